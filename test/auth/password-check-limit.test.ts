import { describe, expect, it } from 'vitest'
import { createPasswordCheckLimit } from '../../src/auth/password-check-limit.ts'
import { ConfigError, TooManyRequestsError } from '../../src/errors.ts'

/** Lets every check that may start, start: the limit starts each on a turn of its own. */
const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((next) => setImmediate(next))
}

/** Password checks that end when the test says, oldest first, counting how many run at once. */
const heldChecks = () => {
  const held: { resolve: (ok: boolean) => void; reject: (err: Error) => void }[] = []
  const started: number[] = []
  let running = 0
  let most = 0
  const oldest = () => {
    running--
    return held.shift()
  }
  return {
    check: (id: number) => () => {
      started.push(id)
      running++
      most = Math.max(most, running)
      return new Promise<boolean>((resolve, reject) => held.push({ resolve, reject }))
    },
    started,
    end: (ok: boolean) => oldest()?.resolve(ok),
    throwIn: (err: Error) => oldest()?.reject(err),
    held: () => held.length,
    running: () => running,
    most: () => most,
  }
}

/** A promise's outcome, readable before it settles. */
const settled = <T>(p: Promise<T>) => {
  const state: { value?: T; error?: unknown; done: boolean } = { done: false }
  p.then(
    (value) => Object.assign(state, { value, done: true }),
    (error) => Object.assign(state, { error, done: true }),
  )
  return state
}

describe('password check limit', () => {
  it('runs at most maxRunning checks at once, the next in line starting as one ends', async () => {
    const limit = createPasswordCheckLimit({ maxRunning: 2, maxWaiting: 10 })
    const checks = heldChecks()
    const results = [0, 1, 2, 3, 4, 5].map((id) => settled(limit.run(checks.check(id))))
    await turns()
    expect(checks.started).toEqual([0, 1])
    expect([limit.running(), limit.waiting()]).toEqual([2, 4])
    while (checks.held() > 0) {
      checks.end(false)
      await turns()
      expect(checks.running()).toBeLessThanOrEqual(2)
    }
    expect(checks.started).toEqual([0, 1, 2, 3, 4, 5])
    expect(checks.most()).toBe(2)
    expect(results.every((r) => r.done && r.value === false)).toBe(true)
    expect([limit.running(), limit.waiting()]).toEqual([0, 0])
  })

  it('refuses a check past a full line at once, with a TooManyRequestsError and its Retry-After, never starting it', async () => {
    const limit = createPasswordCheckLimit({ maxRunning: 1, maxWaiting: 2, retryAfterSeconds: 3 })
    const checks = heldChecks()
    const results = [0, 1, 2, 3, 4].map((id) => settled(limit.run(checks.check(id))))
    await turns()
    expect(results.map((r) => r.done)).toEqual([false, false, false, true, true])
    for (const refused of results.slice(3)) {
      expect(refused.error).toBeInstanceOf(TooManyRequestsError)
      expect((refused.error as TooManyRequestsError).retryAfterSeconds).toBe(3)
    }
    expect(checks.started).toEqual([0])
    checks.end(true)
    await turns()
    expect(results[0]).toMatchObject({ done: true, value: true })
    expect(settled(limit.run(checks.check(5)))).toMatchObject({ done: false })
    await turns()
    expect(checks.started).toEqual([0, 1])
    expect(limit.waiting()).toBe(2)
  })

  it('frees the place of a check that throws', async () => {
    const limit = createPasswordCheckLimit({ maxRunning: 1, maxWaiting: 1 })
    const checks = heldChecks()
    const failing = settled(limit.run(checks.check(0)))
    const next = settled(limit.run(checks.check(1)))
    await turns()
    checks.throwIn(new Error('database is locked'))
    await turns()
    expect(failing.error).toMatchObject({ message: 'database is locked' })
    expect(checks.started).toEqual([0, 1])
    checks.end(false)
    await turns()
    expect(next).toMatchObject({ done: true, value: false })
    expect(limit.running()).toBe(0)
  })

  it('refuses a bound that is not a whole number, or no place to run', () => {
    expect(() => createPasswordCheckLimit({ maxRunning: 0 })).toThrow(ConfigError)
    expect(() => createPasswordCheckLimit({ maxWaiting: 1.5 })).toThrow(ConfigError)
    expect(() => createPasswordCheckLimit({ maxWaiting: 0 })).not.toThrow()
  })
})
