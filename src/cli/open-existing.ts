// Opens DATA_DIR's database for the engineer's commands (replay, events), migrated and checked.
import { existsSync } from 'node:fs'
import { loadConfig } from '../config.ts'
import { type Core, openCore } from '../core/open-core.ts'
import { ConfigError } from '../errors.ts'
import type { Io } from './main.ts'

export const openExisting = (io: Io): Core => {
  const config = loadConfig(io.env)
  if (!existsSync(config.dbFile)) {
    throw new ConfigError(`no database at ${config.dbFile}; set DATA_DIR to the gateway's data folder`)
  }
  return openCore({ file: config.dbFile, synchronous: config.synchronous })
}
