// Applies migrations/NNNN_name.sql in order, each in its own transaction, recorded with its checksum.
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DatabaseRefusedError } from '../errors.ts'
import { type Db, KURIR_APPLICATION_ID } from './database.ts'

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url))

export interface Migration {
  version: number
  name: string
  sql: string
  checksum: string
}

export interface MigrationReport {
  applied: Migration[]
  current: number
}

const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/

export const loadMigrations = (dir: string = MIGRATIONS_DIR): Migration[] => {
  const migrations = readdirSync(dir)
    .map((file) => ({ file, match: FILE_PATTERN.exec(file) }))
    .filter((f): f is { file: string; match: RegExpExecArray } => f.match !== null)
    .map(({ file, match }) => {
      const sql = readFileSync(join(dir, file), 'utf8')
      return {
        version: Number(match[1]),
        name: match[2] ?? file,
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      }
    })
    .sort((a, b) => a.version - b.version)
  migrations.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new Error(`migrations must be numbered 0001 onwards without gaps; found ${m.version}`)
  })
  return migrations
}

type AppliedRow = { version: number; name: string; checksum: string }

/**
 * Brings the database up to the newest migration. Refuses, changing nothing, when an applied migration
 * was edited or when the database was migrated by a newer Kurir.
 *
 * @example
 * const { applied } = migrate(db)
 */
export const migrate = (db: Db, migrations: Migration[] = loadMigrations()): MigrationReport => {
  db.exec(`CREATE TABLE IF NOT EXISTS kurir_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`)
  // Written once: setting it again on every open would take the write lock, even for a command that
  // only reads, beside a gateway that is writing.
  if (db.pragma('application_id', { simple: true }) !== KURIR_APPLICATION_ID) {
    db.pragma(`application_id = ${KURIR_APPLICATION_ID}`)
  }
  const applied = db
    .prepare('SELECT version, name, checksum FROM kurir_migrations ORDER BY version')
    .all() as AppliedRow[]
  const known = new Map(migrations.map((m) => [m.version, m]))
  for (const row of applied) {
    const m = known.get(row.version)
    if (!m) {
      throw new DatabaseRefusedError(
        `the database was migrated by a newer Kurir (migration ${String(row.version).padStart(4, '0')}_${row.name} is unknown to this version); upgrade Kurir or use another DATA_DIR`,
      )
    }
    if (m.checksum !== row.checksum) {
      throw new DatabaseRefusedError(
        `migration ${String(m.version).padStart(4, '0')}_${m.name}.sql was edited after it was applied (checksum ${row.checksum.slice(0, 12)}… recorded, ${m.checksum.slice(0, 12)}… on disk); restore the file and add a new migration instead`,
      )
    }
  }
  const done = new Set(applied.map((r) => r.version))
  const record = db.prepare(
    'INSERT INTO kurir_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)',
  )
  const newlyApplied: Migration[] = []
  for (const m of migrations) {
    if (done.has(m.version)) continue
    db.transaction(() => {
      db.exec(m.sql)
      record.run(m.version, m.name, m.checksum, new Date().toISOString())
      db.pragma(`user_version = ${m.version}`)
    })()
    newlyApplied.push(m)
  }
  return { applied: newlyApplied, current: migrations.at(-1)?.version ?? 0 }
}
