// `--inspect`: streams a trace to the XState v5 inspector (@statelyai/inspect) over a local WebSocket.
import type { AnyStateMachine } from 'xstate'
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
): Promise<TraceInspector> => {
  const { createWebSocketInspector } = await import('@statelyai/inspect')
  const { createInspectorServer } = await import('@statelyai/inspect/server')
  const port = Number(io.env['INSPECT_PORT'] ?? 8080)
  const server = createInspectorServer({ port, autoOpen: false })
  const inspector = createWebSocketInspector({ url: `ws://localhost:${port}` })
  inspector.start()
  io.err(`inspector: open http://localhost:${port} in a browser to watch ${streamId}`)
  inspector.actor(streamId, undefined, { definition: JSON.stringify(machine.definition) })
  return {
    step(line, machineEvent) {
      inspector.event(streamId, machineEvent)
      inspector.snapshot(
        streamId,
        { status: line.snapshot.status, context: line.snapshot.context, value: line.snapshot.value } as never,
        {
          event: machineEvent,
        },
      )
    },
    async close() {
      // Give the socket a moment to deliver, then let go.
      await new Promise((r) => setTimeout(r, 500))
      inspector.stop()
      server.stop()
    },
  }
}
