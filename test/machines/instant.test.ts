// The fast instant codecs must give exactly what Date gives, for every input.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseIsoMs } from '../../machines/instant.ts'
import { toIso } from '../../src/clock.ts'

/** Every millisecond a Date can hold. */
const anyDateMs = fc.integer({ min: -8_640_000_000_000_000, max: 8_640_000_000_000_000 })
/** The years Kurir's instants live in, where the fast paths run. */
const fourDigitYearMs = fc.integer({ min: 0, max: 253_402_300_799_999 })

describe('toIso', () => {
  it('formats every instant as Date#toISOString does', () => {
    fc.assert(
      fc.property(fc.oneof(anyDateMs, fourDigitYearMs), (ms) => {
        expect(toIso(ms)).toBe(new Date(ms).toISOString())
      }),
      { numRuns: 20_000 },
    )
  })

  it('formats the edges of days, months, leap years and centuries', () => {
    for (const iso of [
      '1970-01-01T00:00:00.000Z',
      '1999-12-31T23:59:59.999Z',
      '2000-02-29T12:00:00.000Z',
      '2024-02-29T23:59:59.999Z',
      '2100-03-01T00:00:00.000Z',
      '9999-12-31T23:59:59.999Z',
    ])
      expect(toIso(Date.parse(iso))).toBe(iso)
  })

  it('throws for what Date cannot format, as Date does', () => {
    for (const ms of [Number.NaN, Number.POSITIVE_INFINITY, 8_640_000_000_000_001])
      expect(() => toIso(ms)).toThrow(RangeError)
  })
})

describe('parseIsoMs', () => {
  it('reads back every instant it is given in ISO form', () => {
    fc.assert(
      fc.property(fc.oneof(anyDateMs, fourDigitYearMs), (ms) => {
        expect(parseIsoMs(new Date(ms).toISOString())).toBe(ms)
      }),
      { numRuns: 20_000 },
    )
  })

  it('agrees with Date.parse on near-ISO strings: any digits in the fields, any character anywhere', () => {
    const digits = (n: number) =>
      fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: n, maxLength: n })
    const nearIso = fc
      .tuple(digits(4), digits(2), digits(2), digits(2), digits(2), digits(2), digits(3))
      .map(([y, mo, d, h, mi, s, ms]) => `${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}Z`)
    const mutated = fc
      .tuple(fourDigitYearMs, fc.nat(23), fc.string({ minLength: 1, maxLength: 1 }))
      .map(([ms, at, c]) => {
        const iso = new Date(ms).toISOString()
        return iso.slice(0, at) + c + iso.slice(at + 1)
      })
    fc.assert(
      fc.property(fc.oneof(nearIso, mutated, fc.string({ maxLength: 30 })), (text) => {
        expect(parseIsoMs(text)).toBe(Date.parse(text))
      }),
      { numRuns: 20_000 },
    )
  })

  it('leaves the forms it does not read to Date.parse', () => {
    for (const text of [
      '2026-02-29T00:00:00.000Z', // no such day: V8 rolls it over
      '2026-01-05T24:00:00.000Z',
      '2026-01-05T08:00:60.000Z',
      '2026-01-05T08:00:00Z',
      '2026-01-05T08:00:00.000+07:00',
      '+012026-01-05T08:00:00.000Z',
    ])
      expect(parseIsoMs(text)).toBe(Date.parse(text))
  })
})
