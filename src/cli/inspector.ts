// `--inspect`: streams a trace to the XState v5 inspector (@statelyai/inspect) through its relay on the
// loopback address, stripped of phone numbers and message text like the live view (INSPECT=1).
import type { AnyStateMachine } from 'xstate'
import type { Snapshot } from '../core/fold.ts'
import type { TraceLine } from '../core/trace.ts'
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
  const inspector = await connectInspector(Number(io.env['INSPECT_PORT'] ?? 8080))
  io.err(`inspector: open ${inspector.url} in a browser on this machine to watch ${streamId}`)
  inspector.actor(streamId, machine, initial)
  return {
    step(line, machineEvent) {
      inspector.step(streamId, machineEvent, line.snapshot)
    },
    async close() {
      // Give the socket a moment to deliver, then let go.
      await new Promise((r) => setTimeout(r, 500))
      await inspector.close()
    },
  }
}
