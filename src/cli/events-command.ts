// `kurir events export [--stream S] [--after N]`: the log as NDJSON on stdout, in position order.
// `kurir events archive --older-than-days N [--session S]`: finished jobs out of the live log (retention).
import { loadConfig } from '../config.ts'
import { archiveFinishedJobs } from '../core/retention.ts'
import { ValidationError } from '../errors.ts'
import { checkSessionId } from '../runtime/session-manager.ts'
import type { Io } from './main.ts'
import { openExisting } from './open-existing.ts'
import { readOptions } from './options.ts'

const PAGE = 5000

export const eventsCommand = async (args: string[], io: Io): Promise<number> => {
  const [sub, ...rest] = args
  if (sub === 'archive') return archive(rest, io)
  if (sub !== 'export') {
    io.err(
      'usage: kurir events export [--stream S] [--after N]\n       kurir events archive --older-than-days N [--session S]',
    )
    return 1
  }
  const { values } = readOptions(rest, { stream: { type: 'string' }, after: { type: 'string' } })
  if (values.after !== undefined && !/^\d{1,16}$/.test(values.after))
    throw new ValidationError('--after takes a position: a whole number ≥ 0, in decimal digits')
  const after = values.after === undefined ? 0 : Number(values.after)
  if (values.stream !== undefined && values.stream.trim() === '')
    throw new ValidationError('--stream takes a stream id, such as job-01J… or session-default')
  const core = openExisting(io)
  try {
    let position = after
    for (;;) {
      const page = core.store.readAll(position, PAGE, values.stream ? { streamId: values.stream } : {})
      for (const e of page) io.out(JSON.stringify(e))
      if (page.length < PAGE) break
      position = page.at(-1)?.position ?? position
    }
    return 0
  } finally {
    await core.close()
  }
}

const archive = async (args: string[], io: Io): Promise<number> => {
  const { values } = readOptions(args, { 'older-than-days': { type: 'string' }, session: { type: 'string' } })
  const days = Number(values['older-than-days'])
  if (!/^\d{1,5}$/.test(values['older-than-days'] ?? '') || days < 1) {
    throw new ValidationError('--older-than-days takes a whole number of days, at least 1')
  }
  // Checked as given: an empty --session would otherwise read as none, and archive every session's jobs.
  const sessionId = values.session === undefined ? undefined : checkSessionId(values.session)
  const config = loadConfig(io.env)
  const core = openExisting(io)
  try {
    const report = await archiveFinishedJobs(
      { db: core.db, store: core.store, commands: core.commands, clock: core.clock, dataDir: config.dataDir },
      { olderThanDays: days, ...(sessionId === undefined ? {} : { sessionId }) },
    )
    io.out(
      report.file
        ? `archived ${report.jobs} jobs (${report.events} events) finished before ${report.finishedBefore} to ${report.file}`
        : `no job finished before ${report.finishedBefore}; nothing archived`,
    )
    return 0
  } finally {
    await core.close()
  }
}
