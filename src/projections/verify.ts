// Rebuilds every projection aside and compares it, row by row, with the live tables.
import type { Db } from '../eventlog/database.ts'
import { createAsideSchema, PROJECTION_TABLES, rebuildProjections } from './rebuild.ts'

export interface TableDifference {
  table: string
  /** Rows in the live table that the rebuild did not produce (or produced differently). */
  onlyLive: Record<string, unknown>[]
  /** Rows the rebuild produced that the live table lacks (or holds differently). */
  onlyRebuilt: Record<string, unknown>[]
}

export interface VerifyReport {
  identical: boolean
  events: number
  streams: number
  differences: TableDifference[]
}

/**
 * @example
 * const report = await verifyProjections(db)
 * if (!report.identical) console.log(report.differences)
 */
export const verifyProjections = async (
  db: Db,
  options: { limit?: number; workers?: number } = {},
): Promise<VerifyReport> => {
  const limit = options.limit ?? 20
  const aside = createAsideSchema(db, `verify_${process.pid}_${Date.now()}`)
  try {
    const { events, streams } = await rebuildProjections(db, {
      schema: aside,
      ...(options.workers === undefined ? {} : { workers: options.workers }),
    })
    const differences: TableDifference[] = []
    for (const table of PROJECTION_TABLES) {
      const onlyLive = db
        .prepare(`SELECT * FROM main.${table} EXCEPT SELECT * FROM ${aside}.${table} LIMIT ${limit}`)
        .all() as Record<string, unknown>[]
      const onlyRebuilt = db
        .prepare(`SELECT * FROM ${aside}.${table} EXCEPT SELECT * FROM main.${table} LIMIT ${limit}`)
        .all() as Record<string, unknown>[]
      if (onlyLive.length > 0 || onlyRebuilt.length > 0) differences.push({ table, onlyLive, onlyRebuilt })
    }
    return { identical: differences.length === 0, events, streams, differences }
  } finally {
    db.exec(`DETACH DATABASE ${aside}`)
  }
}
