// Bounds the password checks running at once, so that a flood of sign-ins cannot starve the event loop.
import { ConfigError, TooManyRequestsError } from '../errors.ts'

export interface PasswordCheckLimitOptions {
  /** Checks that may run at once (default 2). */
  maxRunning?: number
  /** Checks that may wait for a turn (default 4); one more is refused at once. */
  maxWaiting?: number
  /** The Retry-After of a refused check, in seconds (default 1). */
  retryAfterSeconds?: number
}

const checkCount = (name: string, value: number, least: number) => {
  if (!Number.isInteger(value) || value < least) {
    throw new ConfigError(`${name} must be a whole number of at least ${least} (got ${value})`)
  }
}

/**
 * Runs password checks at most `maxRunning` at a time, with at most `maxWaiting` more waiting in
 * line; past that a check is refused with a TooManyRequestsError and never started. bcryptjs hashes
 * on this thread in slices of about 100 ms, so the event loop is held for at most about `maxRunning`
 * slices in a row.
 *
 * @example
 * const checks = createPasswordCheckLimit({ maxRunning: 2 })
 * const user = await checks.run(() => users.authenticate(email, password))
 */
export const createPasswordCheckLimit = ({
  maxRunning = 2,
  maxWaiting = 4,
  retryAfterSeconds = 1,
}: PasswordCheckLimitOptions = {}) => {
  checkCount('maxRunning', maxRunning, 1)
  checkCount('maxWaiting', maxWaiting, 0)
  checkCount('retryAfterSeconds', retryAfterSeconds, 1)
  let running = 0
  const waiting: (() => void)[] = []

  // A finished check hands its place straight to the next in line, so none can slip in between.
  const leave = () => {
    const next = waiting.shift()
    if (next) next()
    else running--
  }

  return {
    /** Runs `check` when a place is free; rejects at once with TooManyRequestsError when the line is full. */
    async run<T>(check: () => Promise<T>): Promise<T> {
      if (running < maxRunning) running++
      else if (waiting.length < maxWaiting) await new Promise<void>((enter) => waiting.push(enter))
      else {
        throw new TooManyRequestsError(
          `too many sign-ins are being checked; try again in ${retryAfterSeconds} s`,
          retryAfterSeconds,
        )
      }
      try {
        // bcryptjs runs its first slice at once: starting on a turn of its own keeps that slice from
        // adding to the one that just ended, or to the request being read.
        await new Promise((next) => setImmediate(next))
        return await check()
      } finally {
        leave()
      }
    },

    /** Checks running now. */
    running: (): number => running,

    /** Checks waiting for a place. */
    waiting: (): number => waiting.length,
  }
}

export type PasswordCheckLimit = ReturnType<typeof createPasswordCheckLimit>
