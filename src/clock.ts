// Time as a dependency: production uses the system clock, tests pass a settable one.

export type TimerHandle = { readonly cancel: () => void }

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  /** Runs `fn` once after `ms`; the handle cancels it. */
  setTimer(fn: () => void, ms: number): TimerHandle
}

/** The longest delay setTimeout accepts; longer waits are taken in steps. */
const MAX_TIMEOUT_MS = 2_147_483_647

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const handle = setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMEOUT_MS))
    handle.unref?.()
    return { cancel: () => clearTimeout(handle) }
  },
}

export const toIso = (ms: number): string => new Date(ms).toISOString()
