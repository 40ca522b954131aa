// Time as a dependency: production uses the system clock, tests pass a settable one.
import { MS_PER_DAY } from '../machines/instant.ts'

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

/** 9999-12-31T23:59:59.999Z: the last instant with a four-digit year. */
export const LAST_FOUR_DIGIT_YEAR_MS = 253_402_300_799_999

const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`)
const pad3 = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`)

/**
 * The ISO form of epoch milliseconds, as `new Date(ms).toISOString()` gives it (and throws it), several
 * times faster for the instants of years 1970 to 9999: a rebuild formats several per row.
 *
 * @example
 * toIso(1767600000000) // '2026-01-05T08:00:00.000Z'
 */
export const toIso = (ms: number): string => {
  if (!Number.isInteger(ms) || ms < 0 || ms > LAST_FOUR_DIGIT_YEAR_MS) return new Date(ms).toISOString()
  const days = Math.floor(ms / MS_PER_DAY)
  let rest = ms - days * MS_PER_DAY
  // Civil date from days since 1970-01-01 (eras of 400 years, years starting in March).
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const dayOfEra = z - era * 146_097
  const yearOfEra = Math.floor(
    (dayOfEra -
      Math.floor(dayOfEra / 1460) +
      Math.floor(dayOfEra / 36_524) -
      Math.floor(dayOfEra / 146_096)) /
      365,
  )
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100))
  const mp = Math.floor((5 * dayOfYear + 2) / 153)
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
  const hour = Math.floor(rest / 3_600_000)
  rest -= hour * 3_600_000
  const minute = Math.floor(rest / 60_000)
  rest -= minute * 60_000
  const second = Math.floor(rest / 1000)
  const milli = rest - second * 1000
  return `${year}-${pad2(month)}-${pad2(day)}T${pad2(hour)}:${pad2(minute)}:${pad2(second)}.${pad3(milli)}Z`
}
