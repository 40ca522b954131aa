// A settable clock: time moves only when the test says so, and due timers run then.
import type { Clock, TimerHandle } from '../../src/clock.ts'

export interface FakeClock extends Clock {
  /** Moves time forward and runs every timer that comes due, in order. */
  advance(ms: number): void
  set(ms: number): void
  pending(): number
}

export const createFakeClock = (startMs = Date.parse('2026-01-05T08:00:00.000Z')): FakeClock => {
  let now = startMs
  let seq = 0
  const timers = new Map<number, { at: number; fn: () => void }>()
  const runDue = () => {
    for (;;) {
      const due = [...timers.entries()]
        .filter(([, t]) => t.at <= now)
        .sort((a, b) => a[1].at - b[1].at || a[0] - b[0])
      const first = due[0]
      if (!first) return
      timers.delete(first[0])
      first[1].fn()
    }
  }
  return {
    now: () => now,
    setTimer(fn, ms): TimerHandle {
      const id = ++seq
      timers.set(id, { at: now + Math.max(0, ms), fn })
      return { cancel: () => timers.delete(id) }
    },
    advance(ms) {
      now += ms
      runDue()
    },
    set(ms) {
      now = ms
      runDue()
    },
    pending: () => timers.size,
  }
}
