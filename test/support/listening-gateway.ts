// A whole gateway in this process (`startGateway` on the simulator), listening on a free port, with the
// admin signed in: for tests that need a real socket (event streams, shutdown).
import type { Clock } from '../../src/clock.ts'
import { loadConfig } from '../../src/config.ts'
import { createLogger } from '../../src/logger.ts'
import { startGateway } from '../../src/main.ts'
import { ADMIN, jsonOf } from './api.ts'

/**
 * @example
 * const { gateway, base, login } = await listeningGateway(tempDir())
 * closers.push(() => gateway.close())
 */
export const listeningGateway = async (
  dir: string,
  options: { clock?: Clock; env?: Record<string, string> } = {},
) => {
  const gateway = await startGateway({
    config: loadConfig({
      DATA_DIR: dir,
      PORT: '0',
      LOG_LEVEL: 'silent',
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      BCRYPT_COST: '10',
      WA_ENGINE: 'simulator',
      SIM_LINK_AFTER_MS: '-1',
      ...options.env,
    }),
    log: createLogger('silent'),
    ...(options.clock ? { clock: options.clock } : {}),
  })
  // The default session has started by now; its events come first in the log.
  await gateway.sessions.settled()
  const base = `http://127.0.0.1:${gateway.address.port}`
  /** A fresh access token of the admin. */
  const login = async (): Promise<string> => {
    const res = await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(ADMIN),
    })
    return ((await jsonOf(res)) as { token: string }).token
  }
  return { gateway, base, login }
}
