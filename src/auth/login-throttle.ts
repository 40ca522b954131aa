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

/** Retry-After while a key is not locked but its attempts under way use up what is left of its failures. */
const UNDER_WAY_RETRY_SECONDS = 1

/** Failures within the window, locked until, and attempts begun and not yet ended. */
type Entry = { failures: number[]; lockedUntil: number; underWay: number }

/** One sign-in attempt, counted as a failure from `begin` until it ends; ends once, later calls do nothing. */
export interface LoginAttempt {
  /** The password was wrong: the attempt stays counted as a failure. */
  fail(): void
  /** The password was right: the email's failures and lock are forgotten. */
  succeed(): void
  /** No password was checked: the attempt stops counting. */
  release(): void
}

/**
 * Counts sign-in attempts per email (lower-cased) and per client address, in memory. An attempt counts
 * as a failure from the moment it begins, so attempts running at once cannot outnumber the failures
 * left. Reaching `maxFailures` within `windowMs` locks that key for `lockMs`.
 *
 * @example
 * const throttle = createLoginThrottle({ clock })
 * const attempt = throttle.begin(email, address)  // TooManyRequestsError while either key is used up
 * const user = await users.authenticate(email, password)
 * if (user) attempt.succeed()
 * else attempt.fail()
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

  const recentFailures = (e: Entry, now: number) => e.failures.filter((t) => t > now - windowMs)

  const isIdle = (e: Entry, now: number) =>
    e.underWay === 0 && e.lockedUntil <= now && e.failures.every((t) => t <= now - windowMs)

  // Forgets idle keys first, then the stalest unlocked ones, and locked ones only as a last resort, so
  // that a flood of new keys does not lift the locks it was meant to be stopped by. A key with attempts
  // under way is kept: those attempts end on it.
  const evict = (now: number) => {
    if (entries.size <= maxKeys) return
    for (const [key, e] of entries) if (isIdle(e, now)) entries.delete(key)
    for (const unlockedOnly of [true, false]) {
      for (const [key, e] of entries) {
        if (entries.size <= maxKeys) return
        if (e.underWay === 0 && (!unlockedOnly || e.lockedUntil <= now)) entries.delete(key)
      }
    }
  }

  // Moves the key to the freshest end; the caller evicts once it has changed the entry.
  const touch = (key: string): Entry => {
    const entry = entries.get(key) ?? { failures: [], lockedUntil: 0, underWay: 0 }
    entries.delete(key)
    entries.set(key, entry)
    return entry
  }

  // Why the key may not begin another attempt now, and for how many seconds; null when it may.
  const refusal = (e: Entry | undefined, now: number): TooManyRequestsError | null => {
    if (!e) return null
    if (e.lockedUntil > now) {
      const seconds = Math.ceil((e.lockedUntil - now) / 1000)
      return new TooManyRequestsError(`too many failed sign-ins; try again in ${seconds} s`, seconds)
    }
    if (recentFailures(e, now).length + e.underWay < maxFailures) return null
    return new TooManyRequestsError(
      `too many sign-ins under way; try again in ${UNDER_WAY_RETRY_SECONDS} s`,
      UNDER_WAY_RETRY_SECONDS,
    )
  }

  const recordFailure = (e: Entry, now: number) => {
    if (e.lockedUntil > now) return
    e.failures = recentFailures(e, now)
    e.failures.push(now)
    if (e.failures.length >= maxFailures) {
      e.lockedUntil = now + lockMs
      e.failures = []
    }
  }

  return {
    /**
     * Counts an attempt against the email and the address until it ends. Throws TooManyRequestsError,
     * with the seconds to wait, while either is locked or has as many attempts under way as it has
     * failures left.
     */
    begin(email: string, address: string): LoginAttempt {
      const now = clock.now()
      const keys = keysOf(email, address)
      // The longer wait of the two keys is the one to tell.
      let refused: TooManyRequestsError | null = null
      for (const key of keys) {
        const r = refusal(entries.get(key), now)
        if (r && (!refused || r.retryAfterSeconds > refused.retryAfterSeconds)) refused = r
      }
      if (refused) throw refused
      for (const key of keys) touch(key).underWay++
      evict(now)
      // Attempts under way keep their keys from eviction, so these are the entries they were counted on.
      let ended = false
      const end = (): Entry[] => {
        if (ended) return []
        ended = true
        return keys.map((key) => {
          const e = touch(key)
          e.underWay--
          return e
        })
      }
      return {
        fail() {
          const at = clock.now()
          for (const e of end()) recordFailure(e, at)
          evict(at)
        },
        // The address keeps its count: one good password does not excuse guesses at others.
        succeed() {
          const [byEmail] = end()
          if (!byEmail) return
          byEmail.failures = []
          byEmail.lockedUntil = 0
          if (byEmail.underWay === 0) entries.delete(emailKey(email))
        },
        release() {
          end()
        },
      }
    },

    /** Keys held in memory. */
    size(): number {
      return entries.size
    },
  }
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>
