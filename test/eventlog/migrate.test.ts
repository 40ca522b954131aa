import { cpSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { DatabaseRefusedError } from '../../src/errors.ts'
import { KURIR_APPLICATION_ID, openDatabase } from '../../src/eventlog/database.ts'
import { loadMigrations, MIGRATIONS_DIR, migrate } from '../../src/eventlog/migrate.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const copyMigrations = () => {
  const dir = join(tempDir(), 'migrations')
  cpSync(MIGRATIONS_DIR, dir, { recursive: true })
  return dir
}
const tables = (db: Database.Database) =>
  (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[]
  ).filter((n) => !n.startsWith('sqlite_'))

describe('migrations', () => {
  it('applies every migration in order, each recorded with its checksum, and then nothing more', () => {
    const db = openDatabase({ file: join(tempDir(), 'kurir.db') })
    const first = migrate(db)
    expect(first.applied.map((m) => m.version)).toEqual(loadMigrations().map((m) => m.version))
    const rows = db.prepare('SELECT version, checksum FROM kurir_migrations ORDER BY version').all()
    expect(rows).toEqual(loadMigrations().map((m) => ({ version: m.version, checksum: m.checksum })))
    expect(db.pragma('user_version', { simple: true })).toBe(first.current)
    expect(db.pragma('application_id', { simple: true })).toBe(KURIR_APPLICATION_ID)
    expect(tables(db)).toEqual(
      expect.arrayContaining(['events', 'jobs', 'kurir_migrations', 'queues', 'sessions', 'timers']),
    )
    expect(migrate(db).applied).toEqual([])
    db.close()
  })

  it('opens a migrated database without the write lock, beside another connection that holds it', () => {
    const file = join(tempDir(), 'kurir.db')
    const writer = openDatabase({ file })
    migrate(writer)
    writer.exec('BEGIN IMMEDIATE')
    // A command that only reads (`kurir user list`, `events export`) opens the database meanwhile.
    const reader = openDatabase({ file, busyTimeoutMs: 0 })
    try {
      expect(migrate(reader).applied).toEqual([])
      expect(reader.pragma('application_id', { simple: true })).toBe(KURIR_APPLICATION_ID)
    } finally {
      reader.close()
      writer.exec('ROLLBACK')
      writer.close()
    }
  })

  it('refuses to start when an applied migration file was edited, and changes nothing', () => {
    const file = join(tempDir(), 'kurir.db')
    const dir = copyMigrations()
    const db = openDatabase({ file })
    migrate(db, loadMigrations(dir))
    writeFileSync(join(dir, '0001_event_log.sql'), '-- edited\nCREATE TABLE sneaky (x);')
    expect(() => migrate(db, loadMigrations(dir))).toThrow(DatabaseRefusedError)
    expect(() => migrate(db, loadMigrations(dir))).toThrow(
      /0001_event_log\.sql was edited after it was applied/,
    )
    expect(tables(db)).not.toContain('sneaky')
    db.close()
  })

  it('refuses a database migrated by a newer Kurir', () => {
    const file = join(tempDir(), 'kurir.db')
    const db = openDatabase({ file })
    migrate(db)
    db.prepare("INSERT INTO kurir_migrations VALUES (99, 'from_the_future', 'abc', 'x')").run()
    expect(() => migrate(db)).toThrow(/migrated by a newer Kurir \(migration 0099_from_the_future/)
    db.close()
  })

  it('applies each migration in its own transaction: a failing one leaves the earlier ones applied', () => {
    const file = join(tempDir(), 'kurir.db')
    const dir = copyMigrations()
    const next = String(loadMigrations(dir).length + 1).padStart(4, '0')
    writeFileSync(join(dir, `${next}_broken.sql`), 'CREATE TABLE half (x);\nTHIS IS NOT SQL;')
    const db = openDatabase({ file })
    expect(() => migrate(db, loadMigrations(dir))).toThrow()
    expect(tables(db)).not.toContain('half')
    expect(db.prepare('SELECT max(version) FROM kurir_migrations').pluck().get()).toBe(Number(next) - 1)
    db.close()
  })
})

describe('a database that is not Kurir’s', () => {
  it('refuses a file that is not SQLite at all', () => {
    const file = join(tempDir(), 'kurir.db')
    writeFileSync(file, 'hello, I am a spreadsheet\n'.repeat(10))
    expect(() => openDatabase({ file })).toThrow(/is not a SQLite database/)
  })

  it('refuses a SQLite file of another application', () => {
    const file = join(tempDir(), 'other.db')
    const other = new Database(file)
    other.exec('CREATE TABLE customers (id INTEGER)')
    other.close()
    expect(() => openDatabase({ file })).toThrow(/tables that are not Kurir's/)
    const tagged = new Database(file)
    tagged.pragma('application_id = 42')
    tagged.close()
    expect(() => openDatabase({ file })).toThrow(/belongs to another application \(application_id 42\)/)
  })
})
