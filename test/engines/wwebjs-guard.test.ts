// The guard that keeps whatsapp-web.js's own unhandled rejections from ending the gateway, and only those.
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { isLibraryRejection } from '../../src/engines/wwebjs-guard.ts'

const FIXTURE = new URL('../fixtures/rejections.ts', import.meta.url).pathname

const thrownAt = (message: string, frame: string) => {
  const err = new Error(message)
  err.stack = `Error: ${message}\n    at x (${frame})`
  return err
}

describe('whatsapp-web.js rejection guard', () => {
  it('knows the library by its stack, its TargetCloseError and its bare auth timeout', () => {
    expect(
      isLibraryRejection(
        thrownAt('Attempted to use detached Frame', '/srv/node_modules/whatsapp-web.js/src/Client.js:126:5'),
      ),
    ).toBe(true)
    expect(
      isLibraryRejection(thrownAt('x', 'C:\\srv\\node_modules\\puppeteer-core\\lib\\cjs\\a.js:1:1')),
    ).toBe(true)
    const closed = new Error('Target closed')
    closed.name = 'TargetCloseError'
    expect(isLibraryRejection(closed)).toBe(true)
    expect(isLibraryRejection('auth timeout')).toBe(true)
    expect(isLibraryRejection(thrownAt('a bug', '/srv/kurir/src/runtime/dispatcher.ts:10:1'))).toBe(false)
    expect(isLibraryRejection(thrownAt('a bug', '/srv/my-whatsapp-web.js-fork/x.js:1:1'))).toBe(false)
    expect(isLibraryRejection('another string')).toBe(false)
    expect(isLibraryRejection(undefined)).toBe(false)
  })

  it("lets the library's rejections pass, reported, and still ends the process on any other", () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', FIXTURE], { encoding: 'utf8' })
    expect(run.stdout.trim().split('\n')).toEqual([
      'reported: Protocol error (Network.getResponseBody): Target closed',
      'reported: auth timeout',
      'alive',
    ])
    expect(run.status).not.toBe(0)
    expect(run.stderr).toContain('a bug of our own')
  })
})
