import { describe, expect, it } from 'vitest'
import { createLoginThrottle } from '../../src/auth/login-throttle.ts'
import { TooManyRequestsError } from '../../src/errors.ts'
import { createFakeClock } from '../support/fake-clock.ts'

const MINUTE = 60_000
const setup = (options: { maxKeys?: number } = {}) => {
  const clock = createFakeClock()
  const throttle = createLoginThrottle({ clock, ...options })
  /** One attempt that ends as a wrong password. */
  const fail = (email: string, address: string) => throttle.begin(email, address).fail()
  /** The seconds a new attempt is told to wait, or null when it may begin (it is then released). */
  const retryAfter = (email: string, address: string): number | null => {
    try {
      throttle.begin(email, address).release()
      return null
    } catch (err) {
      expect(err).toBeInstanceOf(TooManyRequestsError)
      return (err as TooManyRequestsError).retryAfterSeconds
    }
  }
  return { clock, throttle, fail, retryAfter }
}

describe('login throttle', () => {
  it('locks an email after 5 failures within 15 minutes', () => {
    const { fail, retryAfter, clock } = setup()
    for (let i = 0; i < 4; i++) {
      fail('ops@example.com', `10.0.0.${i}`)
      clock.advance(MINUTE)
    }
    expect(retryAfter('ops@example.com', '10.0.1.1')).toBeNull()
    fail('OPS@example.com', '10.0.0.9')
    expect(retryAfter('ops@example.com', '10.0.1.1')).toBe(15 * 60)
    expect(retryAfter('other@example.com', '10.0.1.1')).toBeNull()
  })

  it('tells how many seconds remain, rounded up, from the injected clock', () => {
    const { fail, retryAfter, clock } = setup()
    for (let i = 0; i < 5; i++) fail('ops@example.com', '10.0.0.1')
    clock.advance(10 * MINUTE + 500)
    expect(retryAfter('ops@example.com', '10.0.0.2')).toBe(5 * 60)
    clock.advance(5 * MINUTE - 1000)
    expect(retryAfter('ops@example.com', '10.0.0.2')).toBe(1)
  })

  it('unlocks after the lock time, with a fresh count', () => {
    const { fail, retryAfter, clock } = setup()
    for (let i = 0; i < 5; i++) fail('ops@example.com', '10.0.0.1')
    clock.advance(15 * MINUTE)
    expect(retryAfter('ops@example.com', '10.0.0.1')).toBeNull()
    fail('ops@example.com', '10.0.0.1')
    expect(retryAfter('ops@example.com', '10.0.0.1')).toBeNull()
  })

  it('does not count failures older than the window', () => {
    const { fail, retryAfter, clock } = setup()
    for (let i = 0; i < 4; i++) fail('ops@example.com', `10.0.0.${i}`)
    clock.advance(15 * MINUTE)
    fail('ops@example.com', '10.0.0.9')
    expect(retryAfter('ops@example.com', '10.0.0.1')).toBeNull()
  })

  it('locks a client address guessing across many emails, for every email', () => {
    const { fail, retryAfter } = setup()
    for (let i = 0; i < 5; i++) fail(`user${i}@example.com`, '203.0.113.7')
    expect(retryAfter('fresh@example.com', '203.0.113.7')).toBe(15 * 60)
    expect(retryAfter('fresh@example.com', '203.0.113.8')).toBeNull()
  })

  it('a success clears the email count but not the address count', () => {
    const { throttle, fail, retryAfter } = setup()
    for (let i = 0; i < 4; i++) fail('ops@example.com', '203.0.113.7')
    throttle.begin('Ops@Example.com', '203.0.113.7').succeed()
    fail('ops@example.com', '198.51.100.1')
    expect(retryAfter('ops@example.com', '198.51.100.1')).toBeNull()
    fail('ops@example.com', '203.0.113.7')
    expect(retryAfter('other@example.com', '203.0.113.7')).toBe(15 * 60)
  })

  it('keeps at most maxKeys keys, forgetting idle ones first and locked ones last', () => {
    const { throttle, fail, retryAfter, clock } = setup({ maxKeys: 4 })
    for (let i = 0; i < 5; i++) fail('locked@example.com', '')
    clock.advance(16 * MINUTE)
    for (let i = 0; i < 5; i++) fail('recent@example.com', '')
    for (let i = 0; i < 10; i++) fail(`spray${i}@example.com`, '')
    expect(throttle.size()).toBe(4)
    expect(retryAfter('recent@example.com', '')).toBe(15 * 60)
  })
})

describe('login throttle, attempts under way', () => {
  it('counts attempts under way as failures: a sixth at once is refused for a second, whatever the others become', () => {
    const { throttle, retryAfter } = setup()
    const running = [1, 2, 3, 4, 5].map((i) => throttle.begin('ops@example.com', `10.0.0.${i}`))
    expect(retryAfter('OPS@example.com', '10.0.0.6')).toBe(1)
    const fromOneAddress = [1, 2, 3, 4, 5].map((i) => throttle.begin(`user${i}@example.com`, '203.0.113.7'))
    expect(retryAfter('user6@example.com', '203.0.113.7')).toBe(1)
    for (const attempt of [...running, ...fromOneAddress]) attempt.fail()
    expect(retryAfter('ops@example.com', '10.0.0.6')).toBe(15 * 60)
    expect(retryAfter('user6@example.com', '203.0.113.7')).toBe(15 * 60)
  })

  it('lets as many begin as failures are left next to the recorded ones', () => {
    const { throttle, fail, retryAfter } = setup()
    for (let i = 0; i < 3; i++) fail('ops@example.com', '10.0.0.1')
    const under = [
      throttle.begin('ops@example.com', '10.0.0.2'),
      throttle.begin('ops@example.com', '10.0.0.3'),
    ]
    expect(retryAfter('ops@example.com', '10.0.0.4')).toBe(1)
    under[0]?.release()
    expect(retryAfter('ops@example.com', '10.0.0.4')).toBeNull()
    under[1]?.fail()
    expect(retryAfter('ops@example.com', '10.0.0.4')).toBeNull()
    fail('ops@example.com', '10.0.0.4')
    expect(retryAfter('ops@example.com', '10.0.0.5')).toBe(15 * 60)
  })

  it('a released attempt stops counting and records nothing', () => {
    const { throttle, retryAfter } = setup()
    for (let round = 0; round < 3; round++) {
      const attempts = [1, 2, 3, 4, 5].map(() => throttle.begin('ops@example.com', '10.0.0.1'))
      for (const attempt of attempts) attempt.release()
    }
    expect(retryAfter('ops@example.com', '10.0.0.1')).toBeNull()
  })

  it('ends an attempt once: a second end changes nothing', () => {
    const { throttle, retryAfter } = setup()
    const attempt = throttle.begin('ops@example.com', '10.0.0.1')
    attempt.fail()
    for (let i = 0; i < 4; i++) {
      attempt.fail()
      attempt.release()
    }
    const others = [1, 2, 3].map(() => throttle.begin('ops@example.com', '10.0.0.1'))
    attempt.succeed()
    expect(retryAfter('ops@example.com', '10.0.0.1')).toBeNull()
    throttle.begin('ops@example.com', '10.0.0.1')
    expect(retryAfter('ops@example.com', '10.0.0.1')).toBe(1)
    for (const other of others) other.release()
  })

  it('a success clears the email failures while other attempts on it stay counted', () => {
    const { throttle, fail, retryAfter } = setup()
    for (let i = 0; i < 2; i++) fail('ops@example.com', `10.0.0.${i}`)
    const others = [1, 2].map((i) => throttle.begin('ops@example.com', `10.0.1.${i}`))
    throttle.begin('ops@example.com', '10.0.2.1').succeed()
    const more = [1, 2, 3].map((i) => throttle.begin('ops@example.com', `10.0.3.${i}`))
    expect(retryAfter('ops@example.com', '10.0.4.1')).toBe(1)
    for (const attempt of [...others, ...more]) attempt.fail()
    expect(retryAfter('ops@example.com', '10.0.4.1')).toBe(15 * 60)
  })

  it('keeps keys with attempts under way past maxKeys, so that their ends still count', () => {
    const { throttle, retryAfter } = setup({ maxKeys: 2 })
    const under = [1, 2, 3, 4, 5].map(() => throttle.begin('ops@example.com', ''))
    for (let i = 0; i < 10; i++) throttle.begin(`spray${i}@example.com`, '').fail()
    expect(retryAfter('ops@example.com', '')).toBe(1)
    for (const attempt of under) attempt.fail()
    expect(retryAfter('ops@example.com', '')).toBe(15 * 60)
    expect(throttle.size()).toBeLessThanOrEqual(2)
  })
})
