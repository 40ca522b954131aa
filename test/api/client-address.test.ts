// Whose failed logins count together: the peer, or the client a trusted proxy forwarded for.
import { afterEach, describe, expect, it } from 'vitest'
import { forwardedClient, throttleKeyOf } from '../../src/api/client-address.ts'
import { loadConfig } from '../../src/config.ts'
import { ADMIN } from '../support/api.ts'
import { listeningGateway } from '../support/listening-gateway.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
})

describe('the client address', () => {
  it('believes X-Forwarded-For only from a trusted proxy, read from its right end', () => {
    const proxies = ['127.0.0.1', '10.0.0.2']
    expect(forwardedClient('127.0.0.1', '203.0.113.7', proxies)).toBe('203.0.113.7')
    // What the client wrote itself comes first; each proxy appends the peer it saw.
    expect(forwardedClient('127.0.0.1', '1.1.1.1, 203.0.113.7, 10.0.0.2', proxies)).toBe('203.0.113.7')
    expect(forwardedClient('::ffff:127.0.0.1', '2001:db8::5', proxies)).toBe('2001:db8::5')
    // Anyone else's header is their own writing.
    expect(forwardedClient('198.51.100.1', '203.0.113.7', proxies)).toBe('198.51.100.1')
    expect(forwardedClient('127.0.0.1', '203.0.113.7', [])).toBe('127.0.0.1')
    // A malformed hop ends the walk at the last address known good.
    expect(forwardedClient('127.0.0.1', 'not-an-ip', proxies)).toBe('127.0.0.1')
    expect(forwardedClient('127.0.0.1', 'x, 10.0.0.2', proxies)).toBe('10.0.0.2')
    expect(forwardedClient('127.0.0.1', undefined, proxies)).toBe('127.0.0.1')
  })

  it('counts an IPv6 client by its /64, and an IPv4 one by its address', () => {
    expect(throttleKeyOf('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64')
    expect(throttleKeyOf('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64')
    expect(throttleKeyOf('2001:db8::1')).toBe('2001:db8:0:0::/64')
    expect(throttleKeyOf('::1')).toBe('0:0:0:0::/64')
    expect(throttleKeyOf('203.0.113.7')).toBe('203.0.113.7')
    expect(throttleKeyOf('unknown')).toBe('unknown')
  })

  it('refuses a TRUST_PROXY that is not a list of addresses, naming it', () => {
    expect(loadConfig({ TRUST_PROXY: '127.0.0.1, ::1' }).trustedProxies).toEqual(['127.0.0.1', '::1'])
    expect(loadConfig({}).trustedProxies).toEqual([])
    expect(() => loadConfig({ TRUST_PROXY: 'proxy.local' })).toThrow(/TRUST_PROXY/)
  })

  let tried = 0
  /** Wrong passwords for emails never tried before: only the address can tie them together. */
  const wrongLogins = async (base: string, forwardedFor: string, n: number) => {
    const statuses: number[] = []
    for (let i = 0; i < n; i++) {
      const res = await fetch(`${base}/api/auth/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': forwardedFor },
        body: JSON.stringify({ email: `nobody${tried++}@example.com`, password: 'wrong password here' }),
      })
      statuses.push(res.status)
    }
    return statuses
  }
  const rightLogin = (base: string, forwardedFor: string) =>
    fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': forwardedFor },
      body: JSON.stringify(ADMIN),
    }).then((r) => r.status)

  it('behind a trusted proxy, throttles each client on its own; elsewhere, ignores the header', async () => {
    const proxied = await listeningGateway(tempDir(), { env: { TRUST_PROXY: '127.0.0.1' } })
    closers.push(() => proxied.gateway.close())
    expect(await wrongLogins(proxied.base, '203.0.113.7', 6)).toEqual([401, 401, 401, 401, 401, 429])
    // Another client behind the same proxy still gets in.
    expect(await rightLogin(proxied.base, '203.0.113.8')).toBe(200)

    const direct = await listeningGateway(tempDir())
    closers.push(() => direct.gateway.close())
    // A forged header changes nothing: the failures are the peer's.
    const forged = ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4', '203.0.113.5', '203.0.113.6']
    const statuses: number[] = []
    for (const address of forged) statuses.push(...(await wrongLogins(direct.base, address, 1)))
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429])
  })
})
