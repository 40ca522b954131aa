// The real whatsapp-web.js on the real Chromium, offline: a start fails with the network's own words and leaves no browser behind.
import { describe, expect, it } from 'vitest'
import { findChrome } from '../../src/engines/chrome-path.ts'
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
})
