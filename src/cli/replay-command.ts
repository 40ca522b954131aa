// `kurir replay rebuild | verify | trace <streamId> [--inspect]`.
import { aggregateOf } from '../core/aggregates.ts'
import { formatTraceLine, traceStream } from '../core/trace.ts'
import { NotFoundError } from '../errors.ts'
import { rebuildProjections } from '../projections/rebuild.ts'
import { verifyProjections } from '../projections/verify.ts'
import { openInspector } from './inspector.ts'
import type { Io } from './main.ts'
import { openExisting } from './open-existing.ts'
import { readOptions } from './options.ts'

const USAGE = 'usage: kurir replay rebuild | verify | trace <streamId> [--inspect]'

/** How many times verify compares while the log moves under it. */
const VERIFY_RUNS = 3

export const replayCommand = async (args: string[], io: Io): Promise<number> => {
  const [sub, ...rest] = args
  if (sub !== 'rebuild' && sub !== 'verify' && sub !== 'trace') {
    io.err(USAGE)
    return 1
  }
  const core = openExisting(io)
  try {
    if (sub === 'rebuild') {
      const r = await rebuildProjections(core.db)
      io.out(`rebuilt projections from ${r.events} events in ${r.streams} streams (${Math.round(r.ms)} ms)`)
      return 0
    }
    if (sub === 'verify') {
      // A gateway committing meanwhile moves the live projections past what was rebuilt: such a run
      // proves nothing either way, and is made again (a few times) before differences are reported.
      let r: Awaited<ReturnType<typeof verifyProjections>>
      let moved: number
      for (let run = 1; ; run++) {
        const before = core.store.lastPosition()
        r = await verifyProjections(core.db)
        moved = core.store.lastPosition() - before
        if (r.identical || moved === 0 || run >= VERIFY_RUNS) break
      }
      if (r.identical) {
        io.out(`projections identical to a rebuild from ${r.events} events in ${r.streams} streams`)
        return 0
      }
      if (moved > 0) {
        io.out(
          `the log grew by ${moved} events during the last comparison (a gateway is writing): differences below may be its own; verify with the gateway stopped or idle`,
        )
      }
      io.out(`projections differ from a rebuild from ${r.events} events:`)
      for (const d of r.differences) {
        io.out(`table ${d.table}:`)
        for (const row of d.onlyLive) io.out(`  live    ${JSON.stringify(row)}`)
        for (const row of d.onlyRebuilt) io.out(`  rebuilt ${JSON.stringify(row)}`)
      }
      return 1
    }
    const { values, positionals } = readOptions(rest, { inspect: { type: 'boolean' } }, { positionals: true })
    const streamId = positionals[0]
    if (!streamId || positionals.length > 1) {
      io.err(USAGE)
      return 1
    }
    const aggregate = aggregateOf(streamId)
    if (core.store.streamVersion(streamId) === 0) throw new NotFoundError(`no events in stream ${streamId}`)
    const inspector = values.inspect
      ? await openInspector(io, streamId, aggregate.folder.machine, aggregate.folder.initial)
      : null
    const started = performance.now()
    const lines = traceStream(core.store, streamId, (line, machineEvent) =>
      inspector?.step(line, machineEvent),
    )
    const ms = performance.now() - started
    for (const line of lines) io.out(formatTraceLine(line))
    io.out(`${lines.length} events, traced in ${ms.toFixed(2)} ms`)
    await inspector?.close()
    return 0
  } finally {
    await core.close()
  }
}
