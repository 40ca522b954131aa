import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { resolveJwtSecret } from '../../src/auth/jwt-secret.ts'
import { ConfigError } from '../../src/errors.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const mode = (file: string) => statSync(file).mode & 0o777
const STRONG = 's'.repeat(32)

describe('JWT secret', () => {
  it('is generated once into DATA_DIR with mode 0600 and reused on the next start', () => {
    const dataDir = join(tempDir(), 'nested', 'data')
    const first = resolveJwtSecret({ secretFromEnv: undefined, dataDir, production: false })
    expect(first).toMatch(/^[A-Za-z0-9_-]{64}$/)
    const file = join(dataDir, 'jwt-secret')
    expect(readFileSync(file, 'utf8').trim()).toBe(first)
    expect(mode(file)).toBe(0o600)
    expect(readdirSync(dataDir)).toEqual(['jwt-secret'])
    expect(resolveJwtSecret({ secretFromEnv: '', dataDir, production: false })).toBe(first)
  })

  it('tightens a secret file that others can read', () => {
    const dataDir = tempDir()
    const file = join(dataDir, 'jwt-secret')
    writeFileSync(file, 'kept from an earlier install\n')
    chmodSync(file, 0o644)
    expect(resolveJwtSecret({ secretFromEnv: undefined, dataDir, production: false })).toBe(
      'kept from an earlier install',
    )
    expect(mode(file)).toBe(0o600)
  })

  it('refuses an empty secret file rather than signing with an empty key', () => {
    const dataDir = tempDir()
    writeFileSync(join(dataDir, 'jwt-secret'), '\n', { mode: 0o600 })
    expect(() => resolveJwtSecret({ secretFromEnv: undefined, dataDir, production: false })).toThrow(
      /jwt-secret is empty/,
    )
  })

  it('uses JWT_SECRET when set and then writes no file; outside production a short one is accepted', () => {
    const dataDir = tempDir()
    expect(resolveJwtSecret({ secretFromEnv: 'dev', dataDir, production: false })).toBe('dev')
    expect(resolveJwtSecret({ secretFromEnv: STRONG, dataDir, production: true })).toBe(STRONG)
    expect(() => statSync(join(dataDir, 'jwt-secret'))).toThrow(/ENOENT/)
  })

  it('in production requires JWT_SECRET of at least 32 characters', () => {
    const dataDir = tempDir()
    const unset = () => resolveJwtSecret({ secretFromEnv: undefined, dataDir, production: true })
    expect(unset).toThrow(ConfigError)
    expect(unset).toThrow('JWT_SECRET is required when NODE_ENV=production (at least 32 characters)')
    const short = () => resolveJwtSecret({ secretFromEnv: 's'.repeat(31), dataDir, production: true })
    expect(short).toThrow(ConfigError)
    expect(short).toThrow(
      /JWT_SECRET must have at least 32 characters when NODE_ENV=production \(it has 31\)/,
    )
    expect(() => statSync(join(dataDir, 'jwt-secret'))).toThrow(/ENOENT/)
  })
})
