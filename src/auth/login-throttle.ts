// Slows password guessing: too many failed sign-ins lock the email, and separately the client address.
import type { Clock } from '../clock.ts'
import { TooManyRequestsError } from '../errors.ts'

export interface LoginThrottleOptions {
  clock: Clock
  /** Failures within `windowMs` that lock a key. */
  maxFailures?: number
  windowMs?: number
  /** How long a locked key stays locked. */
  lockMs?: number
  /** Keys kept in memory; beyond this the least recently touched are forgotten. */
  maxKeys?: number
}

type Entry = { failures: number[]; lockedUntil: number }

/**
 * Counts failed sign-ins per email (lower-cased) and per client address, in memory. Reaching
 * `maxFailures` within `windowMs` locks that key for `lockMs`.
 *
 * @example
 * const throttle = createLoginThrottle({ clock })
 * throttle.check(email, address)          // TooManyRequestsError while either is locked
 * const user = await users.authenticate(email, password)
 * if (user) throttle.succeed(email, address)
 * else throttle.fail(email, address)
 */
export const createLoginThrottle = ({
  clock,
  maxFailures = 5,
  windowMs = 15 * 60_000,
  lockMs = 15 * 60_000,
  maxKeys = 10_000,
}: LoginThrottleOptions) => {
  // A Map iterates in insertion order; re-inserting on every touch keeps the stalest keys first.
  const entries = new Map<string, Entry>()

  const emailKey = (email: string) => `email:${email.trim().toLowerCase()}`
  const keysOf = (email: string, address: string) =>
    address === '' ? [emailKey(email)] : [emailKey(email), `address:${address}`]

  const isIdle = (e: Entry, now: number) =>
    e.lockedUntil <= now && e.failures.every((t) => t <= now - windowMs)

  // Forgets idle keys first, then the stalest unlocked ones, and locked ones only as a last resort, so
  // that a flood of new keys does not lift the locks it was meant to be stopped by.
  const evict = (now: number) => {
    if (entries.size <= maxKeys) return
    for (const [key, e] of entries) if (isIdle(e, now)) entries.delete(key)
    for (const unlockedOnly of [true, false]) {
      for (const [key, e] of entries) {
        if (entries.size <= maxKeys) return
        if (!unlockedOnly || e.lockedUntil <= now) entries.delete(key)
      }
    }
  }

  const touch = (key: string, now: number): Entry => {
    const entry = entries.get(key) ?? { failures: [], lockedUntil: 0 }
    entries.delete(key)
    entries.set(key, entry)
    evict(now)
    return entry
  }

  return {
    /** Throws TooManyRequestsError, with the seconds until it unlocks, while the email or address is locked. */
    check(email: string, address: string): void {
      const now = clock.now()
      let waitMs = 0
      for (const key of keysOf(email, address)) {
        const e = entries.get(key)
        if (e && e.lockedUntil > now) waitMs = Math.max(waitMs, e.lockedUntil - now)
      }
      if (waitMs > 0) {
        const seconds = Math.ceil(waitMs / 1000)
        throw new TooManyRequestsError(`too many failed sign-ins; try again in ${seconds} s`, seconds)
      }
    },

    /** Records a failed sign-in against the email and the address. */
    fail(email: string, address: string): void {
      const now = clock.now()
      for (const key of keysOf(email, address)) {
        const e = touch(key, now)
        if (e.lockedUntil > now) continue
        e.failures = e.failures.filter((t) => t > now - windowMs)
        e.failures.push(now)
        if (e.failures.length >= maxFailures) {
          e.lockedUntil = now + lockMs
          e.failures = []
        }
      }
    },

    /** Forgets the email's failures. The address keeps its count: one good password does not excuse guesses at others. */
    succeed(email: string, _address: string): void {
      entries.delete(emailKey(email))
    },

    /** Keys held in memory. */
    size(): number {
      return entries.size
    },
  }
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>
