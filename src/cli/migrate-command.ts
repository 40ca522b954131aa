// `kurir migrate`: applies pending migrations to DATA_DIR's database and exits.
import { ensureDataDir, loadConfig } from '../config.ts'
import { openDatabase } from '../eventlog/database.ts'
import { migrate } from '../eventlog/migrate.ts'
import type { Io } from './main.ts'

export const migrateCommand = (_args: string[], io: Io): number => {
  const config = loadConfig(io.env)
  ensureDataDir(config.dataDir)
  const db = openDatabase({ file: config.dbFile, synchronous: config.synchronous })
  try {
    const report = migrate(db)
    for (const m of report.applied) io.out(`applied ${String(m.version).padStart(4, '0')}_${m.name}`)
    io.out(
      report.applied.length === 0
        ? `database is up to date (migration ${report.current})`
        : `database migrated to ${report.current}`,
    )
    return 0
  } finally {
    db.close()
  }
}
