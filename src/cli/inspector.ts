// `--inspect`: streams a trace to the XState v5 inspector (@statelyai/inspect) through its relay on the
// loopback address, stripped of phone numbers and message text like the live view (INSPECT=1).
import type { AnyStateMachine } from 'xstate'
import type { Snapshot } from '../core/fold.ts'
import type { TraceLine } from '../core/trace.ts'
import { ConfigError } from '../errors.ts'
import type { Io } from './main.ts'

export interface TraceInspector {
  step(line: TraceLine, machineEvent: { type: string }): void
  close(): Promise<void>
}

export const openInspector = async (
  io: Io,
  streamId: string,
  machine: AnyStateMachine,
  initial: Snapshot,
): Promise<TraceInspector> => {
  const { connectInspector } = await import('../runtime/inspector-connection.ts')
  const port = Number(io.env['INSPECT_PORT'] ?? 8080)
  const inspector = await connectInspector(port).catch((err: unknown) => {
    throw new ConfigError(`${(err as Error).message}; set INSPECT_PORT to a free port`, { cause: err })
  })
  io.err(`inspector: open ${inspector.url} in a browser on this machine to watch ${streamId}`)
  inspector.actor(streamId, machine, initial)
  return {
    step(line, machineEvent) {
      inspector.step(streamId, machineEvent, line.snapshot)
    },
    async close() {
      // The relay keeps the trace for the pages that open it, however late, until the command is
      // stopped.
      io.err('inspector: the trace waits there for the page; press Ctrl-C to stop')
      await (io.stopRequested?.() ?? Promise.resolve())
      await inspector.close()
    },
  }
}
