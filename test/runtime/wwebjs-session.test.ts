// A session on the real whatsapp-web.js and the real Chromium, on a machine with no route to WhatsApp:
// each start fails with the network's error, the session backs off and tries again, gives up after its
// cap, and no Chromium is left at any point between tries.
import { describe, expect, it } from 'vitest'
import { findChrome } from '../../src/engines/chrome-path.ts'
import { createWwebjsEngines } from '../../src/engines/wwebjs.ts'
import { openRuntime } from '../../src/runtime/open-runtime.ts'
import { createFakeClock } from '../support/fake-clock.ts'
import { processesMentioning } from '../support/processes.ts'
import { openTestCore } from '../support/store.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const silent = { debug() {}, info() {}, warn() {}, error() {} }

/** Waits for Chromium's real work (not for a timer: time only moves when the test moves the clock). */
const until = async (what: string, check: () => boolean, withinMs = 90_000) => {
  const deadline = Date.now() + withinMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe('a session on whatsapp-web.js and the real Chromium, offline', () => {
  // Fails rather than skips when no Chromium is installed: findChrome says what to set or install.
  const chromePath = findChrome(process.env.CHROME_PATH)

  it('goes to restarting with the network error, backs off, tries again, and after ten cycles leaves no Chromium behind', async () => {
    const dataDir = tempDir()
    const clock = createFakeClock()
    const core = openTestCore(dataDir, { clock })
    const runtime = openRuntime({
      core,
      engines: createWwebjsEngines({ dataDir, chromePath, startTimeoutMs: 60_000 }),
      log: silent,
      random: () => 0.5,
    })
    const { scheduler, sessions } = runtime
    const config = { maxRestarts: 10, restartBaseMs: 1_000, restartMaxMs: 4_000 }
    const actor = await sessions.create('offline', config)
    const context = () => actor.snapshot().context
    await sessions.start('offline')

    const delays: number[] = []
    for (let cycle = 1; cycle <= 10; cycle++) {
      await until(`restart ${cycle}`, () => actor.state() === 'restarting' && context().restarts === cycle)
      await sessions.settled()
      expect(context().lastError).toMatchObject({ code: 'START_FAILED' })
      expect(context().lastError.message).toMatch(/net::ERR_/)
      expect(context().consecutiveFailures).toBe(cycle)
      // Backing off: the engine of the failed try is gone, and nothing starts before the delay is up.
      expect(processesMentioning(dataDir)).toEqual([])
      delays.push(context().restartDelayMs)
      clock.advance(context().restartDelayMs - 1)
      await scheduler.idle()
      expect(actor.state()).toBe('restarting')
      clock.advance(1)
      await scheduler.idle()
      expect(actor.state()).toBe('starting')
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 4_000, 4_000, 4_000, 4_000, 4_000, 4_000, 4_000])

    // The eleventh failure in a row is over the cap: the session waits for an operator.
    await until('failed', () => actor.state() === 'failed')
    await sessions.settled()
    expect(processesMentioning(dataDir)).toEqual([])
    const types = core.store.readStream('session-offline').map((e) => e.type)
    expect(types.filter((t) => t === 'SessionStartFailed')).toHaveLength(11)
    expect(types.filter((t) => t === 'SessionRestartDue')).toHaveLength(10)

    await runtime.close()
    await core.close()
    expect(processesMentioning(dataDir)).toEqual([])
  }, 300_000)
})
