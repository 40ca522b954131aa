import { describe, expect, it } from 'vitest'
import { ulidSource } from '../src/ids.ts'
import { createFakeClock } from './support/fake-clock.ts'

const CROCKFORD = /^[0-9A-HJKMNP-TV-Z]{26}$/

describe('ulidSource', () => {
  it('gives unique, sorted ULIDs in the clock’s time, across many refills of its random pool', () => {
    const clock = createFakeClock()
    const next = ulidSource(clock)
    const ids: string[] = []
    for (let i = 0; i < 20_000; i++) {
      if (i % 7 === 0) clock.advance(1)
      ids.push(next())
    }
    expect(new Set(ids).size).toBe(ids.length)
    expect([...ids].sort()).toEqual(ids)
    for (const id of ids.slice(0, 50)) expect(id).toMatch(CROCKFORD)
    // The time part is the fake clock's.
    const first = ids[0] ?? ''
    const decoded = [...first.slice(0, 10)].reduce(
      (n, ch) => n * 32 + '0123456789ABCDEFGHJKMNPQRSTVWXYZ'.indexOf(ch),
      0,
    )
    expect(decoded).toBe(clock.now() - Math.ceil(20_000 / 7) + 1)
  })

  it('draws its random part afresh each millisecond: two sources never collide', () => {
    const clock = createFakeClock()
    const a = ulidSource(clock)
    const b = ulidSource(clock)
    const randomParts = new Set<string>()
    for (let i = 0; i < 1000; i++) {
      clock.advance(1)
      randomParts.add(a().slice(10))
      randomParts.add(b().slice(10))
    }
    expect(randomParts.size).toBe(2000)
  })
})
