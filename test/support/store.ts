// Opens a real core (SQLite file in a temp folder) for a test.
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { Clock } from '../../src/clock.ts'
import { openCore } from '../../src/core/open-core.ts'
import { createFakeClock } from './fake-clock.ts'

export const openTestCore = (
  dir: string,
  options: { clock?: Clock; random?: () => number; onCommitted?: (n: number, s: number) => void } = {},
) =>
  openCore({
    file: join(dir, 'kurir.db'),
    clock: options.clock ?? createFakeClock(),
    random: options.random ?? (() => 0.5),
    ...(options.onCommitted ? { onCommitted: options.onCommitted } : {}),
  })

/** A second, independent connection: sees only what has been committed. */
export const observer = (dir: string) => new Database(join(dir, 'kurir.db'), { readonly: true })

/** The steps SQLite's planner chose for a statement, one per line of `EXPLAIN QUERY PLAN`. */
export const queryPlan = (db: Database.Database, sql: string, ...params: unknown[]): string[] =>
  (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail)
