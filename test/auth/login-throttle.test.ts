import { describe, expect, it } from 'vitest'
import { createLoginThrottle } from '../../src/auth/login-throttle.ts'
import { TooManyRequestsError } from '../../src/errors.ts'
import { createFakeClock } from '../support/fake-clock.ts'

const MINUTE = 60_000
const setup = (options: { maxKeys?: number } = {}) => {
  const clock = createFakeClock()
  return { clock, throttle: createLoginThrottle({ clock, ...options }) }
}
const retryAfter = (check: () => void): number | null => {
  try {
    check()
    return null
  } catch (err) {
    expect(err).toBeInstanceOf(TooManyRequestsError)
    return (err as TooManyRequestsError).retryAfterSeconds
  }
}

describe('login throttle', () => {
  it('locks an email after 5 failures within 15 minutes', () => {
    const { throttle, clock } = setup()
    for (let i = 0; i < 4; i++) {
      throttle.fail('ops@example.com', `10.0.0.${i}`)
      clock.advance(MINUTE)
    }
    expect(retryAfter(() => throttle.check('ops@example.com', '10.0.1.1'))).toBeNull()
    throttle.fail('OPS@example.com', '10.0.0.9')
    expect(retryAfter(() => throttle.check('ops@example.com', '10.0.1.1'))).toBe(15 * 60)
    expect(retryAfter(() => throttle.check('other@example.com', '10.0.1.1'))).toBeNull()
  })

  it('tells how many seconds remain, rounded up, from the injected clock', () => {
    const { throttle, clock } = setup()
    for (let i = 0; i < 5; i++) throttle.fail('ops@example.com', '10.0.0.1')
    clock.advance(10 * MINUTE + 500)
    expect(retryAfter(() => throttle.check('ops@example.com', '10.0.0.2'))).toBe(5 * 60)
    clock.advance(5 * MINUTE - 1000)
    expect(retryAfter(() => throttle.check('ops@example.com', '10.0.0.2'))).toBe(1)
  })

  it('unlocks after the lock time, with a fresh count', () => {
    const { throttle, clock } = setup()
    for (let i = 0; i < 5; i++) throttle.fail('ops@example.com', '10.0.0.1')
    clock.advance(15 * MINUTE)
    expect(retryAfter(() => throttle.check('ops@example.com', '10.0.0.1'))).toBeNull()
    throttle.fail('ops@example.com', '10.0.0.1')
    expect(retryAfter(() => throttle.check('ops@example.com', '10.0.0.1'))).toBeNull()
  })

  it('does not count failures older than the window', () => {
    const { throttle, clock } = setup()
    for (let i = 0; i < 4; i++) throttle.fail('ops@example.com', `10.0.0.${i}`)
    clock.advance(15 * MINUTE)
    throttle.fail('ops@example.com', '10.0.0.9')
    expect(retryAfter(() => throttle.check('ops@example.com', '10.0.0.1'))).toBeNull()
  })

  it('locks a client address guessing across many emails, for every email', () => {
    const { throttle } = setup()
    for (let i = 0; i < 5; i++) throttle.fail(`user${i}@example.com`, '203.0.113.7')
    expect(retryAfter(() => throttle.check('fresh@example.com', '203.0.113.7'))).toBe(15 * 60)
    expect(retryAfter(() => throttle.check('fresh@example.com', '203.0.113.8'))).toBeNull()
  })

  it('a success clears the email count but not the address count', () => {
    const { throttle } = setup()
    for (let i = 0; i < 4; i++) throttle.fail('ops@example.com', '203.0.113.7')
    throttle.succeed('Ops@Example.com', '203.0.113.7')
    throttle.fail('ops@example.com', '198.51.100.1')
    expect(retryAfter(() => throttle.check('ops@example.com', '198.51.100.1'))).toBeNull()
    throttle.fail('ops@example.com', '203.0.113.7')
    expect(retryAfter(() => throttle.check('other@example.com', '203.0.113.7'))).toBe(15 * 60)
  })

  it('keeps at most maxKeys keys, forgetting idle ones first and locked ones last', () => {
    const { throttle, clock } = setup({ maxKeys: 4 })
    for (let i = 0; i < 5; i++) throttle.fail('locked@example.com', '')
    clock.advance(16 * MINUTE)
    for (let i = 0; i < 5; i++) throttle.fail('recent@example.com', '')
    for (let i = 0; i < 10; i++) throttle.fail(`spray${i}@example.com`, '')
    expect(throttle.size()).toBe(4)
    expect(retryAfter(() => throttle.check('recent@example.com', ''))).toBe(15 * 60)
  })
})
