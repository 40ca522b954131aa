import { describe, expect, it } from 'vitest'
import { traceStream, traceTail } from '../../src/core/trace.ts'
import { session } from '../support/facts.ts'
import { openTestCore } from '../support/store.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()

/** A linked session's stream with `probes` keepalives after it became ready: two events each. */
const sessionWithKeepalives = async (core: ReturnType<typeof openTestCore>, probes: number) => {
  const facts = [session.created(), session.startRequested(), session.qrIssued(), session.authenticated()]
  facts.push(session.ready())
  for (let i = 0; i < probes; i++) facts.push(session.keepaliveDue(), session.probeSucceeded())
  for (let i = 0; i < facts.length; i += 200) {
    await core.store.append('session-default', facts.slice(i, i + 200), { expectedVersion: 'any' })
  }
  return facts.length
}

describe('the tail of a trace', () => {
  it('is, step for step, the end of the whole replay, whatever the page size', async () => {
    const core = openTestCore(tempDir())
    try {
      const total = await sessionWithKeepalives(core, 600)
      const machineEvents: string[] = []
      const whole = traceStream(core.store, 'session-default', (_, e) => machineEvents.push(e.type))
      expect(whole).toHaveLength(total)
      const view = (line: (typeof whole)[number], machineEvent: string) => ({
        position: line.event.position,
        before: line.before,
        after: line.after,
        accepted: line.accepted,
        effects: line.effects,
        timers: line.timers,
        fired: line.fired,
        value: line.snapshot.value,
        machineEvent,
      })
      for (const limit of [1, 7, 500, 5000]) {
        for (const pageEvents of [1, 64, 500]) {
          const tail = await traceTail(core.store, 'session-default', limit, pageEvents)
          expect(tail.total).toBe(total)
          const from = Math.max(0, total - limit)
          expect(tail.steps.map((s) => view(s.line, s.machineEvent.type))).toEqual(
            whole.slice(from).map((line, i) => view(line, machineEvents[from + i] as string)),
          )
        }
      }
      expect((await traceTail(core.store, 'session-nobody', 10)).total).toBe(0)
    } finally {
      await core.close()
    }
  })

  it('gives the event loop back between pages', async () => {
    const core = openTestCore(tempDir())
    try {
      await sessionWithKeepalives(core, 300)
      const order: string[] = []
      const traced = traceTail(core.store, 'session-default', 10, 100).then(() => order.push('trace'))
      setImmediate(() => order.push('another request'))
      await traced
      expect(order).toEqual(['another request', 'trace'])
    } finally {
      await core.close()
    }
  })
})
