// The real whatsapp-web.js on the real Chromium, offline: a start fails with the network's own words and leaves no browser behind.
import { spawn } from 'node:child_process'
import { lstatSync, mkdirSync, symlinkSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CHROMIUM_FLAGS, endOrphanBrowser, findChrome } from '../../src/engines/chrome-path.ts'
import { EngineError, type WhatsAppEngine } from '../../src/engines/engine.ts'
import { createWwebjsEngines } from '../../src/engines/wwebjs.ts'
import { processesMentioning } from '../support/processes.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()

const startFailure = async (engine: WhatsAppEngine): Promise<EngineError> => {
  const err = await engine.start().then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(EngineError)
  return err as EngineError
}

describe('wwebjs engine on the real Chromium, without a route to WhatsApp', () => {
  // Fails rather than skips when no Chromium is installed: findChrome says what to set or install.
  const chromePath = findChrome(process.env.CHROME_PATH)

  it('fails to start with the network error and leaves no Chromium behind, run after run', async () => {
    const dataDir = tempDir()
    const engines = createWwebjsEngines({ dataDir, chromePath, startTimeoutMs: 60_000 })
    for (let run = 1; run <= 3; run++) {
      const engine = engines.create('offline')
      const err = await startFailure(engine)
      expect(err.code).toBe('START_FAILED')
      expect(err.message).toMatch(/^could not start WhatsApp Web: .*net::ERR_/)
      await engine.stop()
      expect(processesMentioning(dataDir)).toEqual([])
    }
  }, 120_000)

  it('leaves no Chromium behind when stopped while the browser is still launching', async () => {
    const dataDir = tempDir()
    const engines = createWwebjsEngines({ dataDir, chromePath, startTimeoutMs: 60_000 })
    const engine = engines.create('offline')
    let settled = false
    const starting = startFailure(engine).finally(() => {
      settled = true
    })
    // Stop once the launch has begun: Chromium is up, WhatsApp Web is not loaded yet.
    while (!settled && processesMentioning(dataDir).length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    await engine.stop()
    expect(processesMentioning(dataDir)).toEqual([])
    expect((await starting).code).toBe('START_FAILED')
  }, 120_000)

  it('ends a browser that a killed gateway left on the session, and only such a browser', async () => {
    const dataDir = tempDir()
    const profile = join(dataDir, 'sessions', 'default', 'session')
    mkdirSync(profile, { recursive: true })
    // Launched as puppeteer launches it (its own process group), then left behind by its parent.
    const orphan = spawn(
      chromePath,
      [...CHROMIUM_FLAGS, '--headless=new', `--user-data-dir=${profile}`, 'about:blank'],
      { detached: true, stdio: 'ignore' },
    )
    const exited = new Promise((resolve) => orphan.once('exit', resolve))
    const lock = join(profile, 'SingletonLock')
    const deadline = Date.now() + 30_000
    // A dangling symbolic link ("<host>-<pid>"), which existsSync, following it, does not see.
    const locked = () => {
      try {
        return lstatSync(lock).isSymbolicLink()
      } catch {
        return false
      }
    }
    while (!locked() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(lstatSync(lock).isSymbolicLink()).toBe(true)
    // The next engine on the session ends it and goes on to fail for the one reason left: no network.
    const engine = createWwebjsEngines({ dataDir, chromePath, startTimeoutMs: 60_000 }).create('default')
    try {
      const err = await startFailure(engine)
      expect(err.message).toMatch(/^could not start WhatsApp Web: .*net::ERR_/)
      await exited
      await engine.stop()
      expect(processesMentioning(profile)).toEqual([])
    } finally {
      try {
        process.kill(-(orphan.pid as number), 'SIGKILL')
      } catch {
        // Ended, as it should be.
      }
    }

    // A lock naming a live process that is no browser of this profile: left alone.
    const other = join(dataDir, 'sessions', 'other', 'session')
    mkdirSync(other, { recursive: true })
    const bystander = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' })
    symlinkSync(`${hostname()}-${bystander.pid}`, join(other, 'SingletonLock'))
    try {
      expect(await endOrphanBrowser(other)).toBeNull()
      expect(bystander.exitCode).toBeNull()
      expect(bystander.signalCode).toBeNull()
    } finally {
      bystander.kill('SIGKILL')
    }
    expect(await endOrphanBrowser(join(dataDir, 'sessions', 'none'))).toBeNull()
  }, 60_000)
})
