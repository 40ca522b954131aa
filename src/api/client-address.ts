// The address a request came from, for throttling and logs: the socket's peer, never a forwarded header.
import { getConnInfo } from '@hono/node-server/conninfo'
import type { Context } from 'hono'

/** `unknown` when there is no socket (requests made in-process with `app.request`). */
export const clientAddress = (c: Context): string => {
  try {
    return getConnInfo(c).remote.address ?? 'unknown'
  } catch {
    return 'unknown'
  }
}
