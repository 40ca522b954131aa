import bcrypt from 'bcryptjs'
import { describe, expect, it } from 'vitest'
import {
  checkPassword,
  hashPassword,
  MIN_BCRYPT_COST,
  verifyAgainstNothing,
  verifyPassword,
} from '../../src/auth/passwords.ts'
import { ConfigError, ValidationError } from '../../src/errors.ts'

const COST = MIN_BCRYPT_COST

describe('passwords', () => {
  it('hashes with bcrypt at the cost asked for and verifies only the same password', async () => {
    const hash = await hashPassword('correct horse battery', COST)
    expect(bcrypt.getRounds(hash)).toBe(COST)
    expect(await verifyPassword('correct horse battery', hash)).toBe(true)
    expect(await verifyPassword('correct horse batterY', hash)).toBe(false)
  })

  it('refuses a bcrypt cost under 10', async () => {
    await expect(hashPassword('correct horse battery', 9)).rejects.toThrow(ConfigError)
    await expect(hashPassword('correct horse battery', 4)).rejects.toThrow(/from 10 to 31/)
  })

  it('refuses passwords shorter than 8 or longer than 128 characters', () => {
    expect(() => checkPassword('1234567')).toThrow(ValidationError)
    expect(() => checkPassword('12345678')).not.toThrow()
    expect(() => checkPassword('x'.repeat(129))).toThrow(/8 to 128 characters/)
  })

  it('refuses a password of blanks only', () => {
    expect(() => checkPassword(' '.repeat(12))).toThrow(/more than blanks/)
    expect(() => checkPassword('\t \n'.repeat(4))).toThrow(ValidationError)
    expect(() => checkPassword('  spaced out  ')).not.toThrow()
  })

  it('refuses a password over 72 UTF-8 bytes, which bcrypt would silently cut', async () => {
    expect(() => checkPassword('a'.repeat(72))).not.toThrow()
    expect(() => checkPassword('a'.repeat(73))).toThrow(/at most 72 bytes/)
    // 25 characters, but 'é' takes 2 bytes and '🔑' 4: 20 × 2 + 5 × 4 = 60 bytes is fine, 37 × 2 is not.
    expect(() => checkPassword('é'.repeat(20) + '🔑'.repeat(5))).not.toThrow()
    expect(() => checkPassword('é'.repeat(37))).toThrow(ValidationError)
    await expect(hashPassword('a'.repeat(73), COST)).rejects.toThrow(/at most 72 bytes/)
  })

  it('never accepts a password that only shares its first 72 bytes with the one set', async () => {
    const password = 'a'.repeat(72)
    const hash = await hashPassword(password, COST)
    expect(await verifyPassword(password, hash)).toBe(true)
    expect(await verifyPassword(`${password}extra`, hash)).toBe(false)
  })

  it('answers false for an unknown user after spending a comparison at the same cost', async () => {
    await verifyAgainstNothing('warm up', COST)
    const hash = await hashPassword('correct horse battery', COST)
    let started = performance.now()
    await verifyPassword('wrong password', hash)
    const known = performance.now() - started
    started = performance.now()
    expect(await verifyAgainstNothing('wrong password', COST)).toBe(false)
    const unknown = performance.now() - started
    // Same work factor: the two take the same order of time (a loose bound; only a skipped compare fails it).
    expect(unknown).toBeGreaterThan(known / 10)
  })
})
