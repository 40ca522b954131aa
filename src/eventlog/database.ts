// Opens Kurir's SQLite database: refuses files that are not Kurir's, sets WAL and the durability level.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs'
import Database from 'better-sqlite3'
import { DatabaseRefusedError } from '../errors.ts'

export type Db = Database.Database
export type Synchronous = 'FULL' | 'NORMAL'

/**
 * The SQLite code of an error that says another connection held the database past the busy timeout
 * (`SQLITE_BUSY…`, `SQLITE_LOCKED…`): the same work may succeed later. Null for any other error.
 */
export const busyCodeOf = (err: unknown): string | null => {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code) ? code : null
}

/** 'KURI' in ASCII: written to the SQLite header so that Kurir recognises its own files. */
export const KURIR_APPLICATION_ID = 0x4b555249

export interface OpenDatabaseOptions {
  file: string
  synchronous?: Synchronous
  busyTimeoutMs?: number
  readonly?: boolean
}

const SQLITE_MAGIC = 'SQLite format 3\u0000'

const readHeader = (file: string): string => {
  const fd = openSync(file, 'r')
  try {
    const buf = Buffer.alloc(16)
    const n = readSync(fd, buf, 0, 16, 0)
    return buf.subarray(0, n).toString('latin1')
  } finally {
    closeSync(fd)
  }
}

/**
 * Opens (or creates) the database file and checks that it is Kurir's.
 *
 * @example
 * const db = openDatabase({ file: 'data/kurir.db', synchronous: 'FULL' })
 */
export const openDatabase = (options: OpenDatabaseOptions): Db => {
  const { file } = options
  if (
    file !== ':memory:' &&
    existsSync(file) &&
    statSync(file).size > 0 &&
    readHeader(file) !== SQLITE_MAGIC
  ) {
    throw new DatabaseRefusedError(`${file} is not a SQLite database; Kurir will not touch it`)
  }
  const db = new Database(file, { readonly: options.readonly ?? false })
  try {
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`)
    if (!options.readonly) db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`)
    db.pragma('foreign_keys = ON')
    assertKurirDatabase(db, file)
    return db
  } catch (err) {
    db.close()
    throw err
  }
}

/** A database is Kurir's when it carries Kurir's application id, or is still empty. */
export const assertKurirDatabase = (db: Db, file: string): void => {
  const appId = db.pragma('application_id', { simple: true }) as number
  if (appId === KURIR_APPLICATION_ID) return
  if (appId !== 0) {
    throw new DatabaseRefusedError(
      `${file} belongs to another application (application_id ${appId}); Kurir will not touch it`,
    )
  }
  const tables = db
    .prepare("SELECT count(*) AS n FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
    .get() as {
    n: number
  }
  if (tables.n > 0) {
    throw new DatabaseRefusedError(
      `${file} holds tables that are not Kurir's (no Kurir application id); point DATA_DIR at an empty folder`,
    )
  }
}
