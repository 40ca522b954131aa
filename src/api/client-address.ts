// The address a request came from, for throttling: the socket's peer, or, when that peer is a proxy
// named in TRUST_PROXY, the client that proxy says it forwarded for (X-Forwarded-For). A header from
// anyone else is ignored: it is the caller's to write.
import { isIP } from 'node:net'
import { getConnInfo } from '@hono/node-server/conninfo'
import type { Context } from 'hono'

/** `::ffff:10.0.0.1`, as Node shows an IPv4 peer on a dual-stack socket, is `10.0.0.1`. */
const plain = (address: string): string =>
  address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address

/**
 * The client behind a chain of trusted proxies: X-Forwarded-For read from its right end (each proxy
 * appends the peer it saw), skipping the trusted proxies, up to the first address none of them is. A
 * malformed entry ends the walk at the last address known good.
 *
 * @example
 * forwardedClient('127.0.0.1', '203.0.113.7, 10.0.0.2', ['127.0.0.1', '10.0.0.2']) // '203.0.113.7'
 * forwardedClient('198.51.100.1', '203.0.113.7', ['127.0.0.1']) // '198.51.100.1': not a trusted proxy
 */
export const forwardedClient = (
  peer: string,
  forwardedFor: string | undefined,
  trusted: readonly string[],
): string => {
  let client = plain(peer)
  if (!trusted.includes(client) || forwardedFor === undefined) return client
  const hops = forwardedFor.split(',').map((hop) => plain(hop.trim()))
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] as string
    if (isIP(hop) === 0) return client
    client = hop
    if (!trusted.includes(hop)) return hop
  }
  return client
}

/**
 * What failed logins are counted by: an IPv4 address, or an IPv6 address's /64 (one subscriber's
 * network, in which a client may take any address it likes).
 *
 * @example
 * throttleKeyOf('2001:db8:1:2:aaaa::1') // '2001:db8:1:2::/64'
 */
export const throttleKeyOf = (address: string): string => {
  if (isIP(address) !== 6) return address
  const [head = '', tail = ''] = address.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === '' ? [] : tail.split(':')
  const groups = address.includes('::')
    ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
    : left
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`
}

/** `unknown` when there is no socket (requests made in-process with `app.request`). */
export const clientAddress = (c: Context, trustedProxies: readonly string[] = []): string => {
  let peer: string | undefined
  try {
    peer = getConnInfo(c).remote.address
  } catch {
    peer = undefined
  }
  if (peer === undefined) return 'unknown'
  return forwardedClient(peer, c.req.header('X-Forwarded-For'), trustedProxies)
}
