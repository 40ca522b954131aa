// Opens the event-sourced core on one database file: migrate, event store, projector, command handler.
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { type Clock, systemClock } from '../clock.ts'
import { type Db, openDatabase, type Synchronous } from '../eventlog/database.ts'
import { createEventStore, type EventStore } from '../eventlog/event-store.ts'
import { migrate } from '../eventlog/migrate.ts'
import { type IdSource, ulidSource } from '../ids.ts'
import { createProjector, type Projector } from '../projections/projector.ts'
import { type CommandHandler, createCommandHandler } from './command-handler.ts'

export interface Core {
  db: Db
  store: EventStore
  projector: Projector
  commands: CommandHandler
  clock: Clock
  close(): Promise<void>
}

export interface OpenCoreOptions {
  file: string
  synchronous?: Synchronous
  clock?: Clock
  newId?: IdSource
  random?: () => number
  onSubscriberError?: (err: unknown) => void
  onCommitted?: (appends: number, seconds: number) => void
}

/**
 * @example
 * const core = openCore({ file: 'data/kurir.db' })
 * await core.commands.execute(streamIds.queue('default'), () => [{ type: 'QueuePaused', data: { at } }])
 */
export const openCore = (options: OpenCoreOptions): Core => {
  if (options.file !== ':memory:') mkdirSync(dirname(options.file), { recursive: true })
  const clock = options.clock ?? systemClock
  const newId = options.newId ?? ulidSource(clock)
  const db = openDatabase({ file: options.file, synchronous: options.synchronous ?? 'FULL' })
  try {
    migrate(db)
  } catch (err) {
    db.close()
    throw err
  }
  const store = createEventStore({
    db,
    clock,
    newId,
    ...(options.onSubscriberError ? { onSubscriberError: options.onSubscriberError } : {}),
    ...(options.onCommitted ? { onCommitted: options.onCommitted } : {}),
  })
  const projector = createProjector(db)
  const commands = createCommandHandler({
    store,
    projector,
    clock,
    newId,
    ...(options.random ? { random: options.random } : {}),
  })
  return {
    db,
    store,
    projector,
    commands,
    clock,
    async close() {
      await store.flush()
      if (db.open) db.close()
    },
  }
}
