// The engines a configuration gives: the simulator, whatsapp-web.js (loaded when chosen), or engines that
// cannot start and say why.
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { systemClock } from '../../src/clock.ts'
import { findChrome } from '../../src/engines/chrome-path.ts'
import { ulidSource } from '../../src/ids.ts'
import { enginesOf } from '../../src/runtime/engines-of.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const deps = { clock: systemClock, newId: ulidSource(systemClock) }
const config = (engine: 'wwebjs' | 'simulator', chromePath?: string) => ({
  engine,
  dataDir: tempDir(),
  chromePath,
  simulator: { linkAfterMs: -1, sendLatencyMs: 0 },
})

describe('enginesOf', () => {
  it('gives the simulator, and the simulator itself for its routes', async () => {
    const { engines, simulator, problem } = await enginesOf(config('simulator'), deps)
    expect(engines.kind).toBe('simulator')
    expect(simulator).toBe(engines)
    expect(problem).toBeUndefined()
  })

  it('loads whatsapp-web.js when it is the engine and a browser is there', async () => {
    const { engines, simulator, problem } = await enginesOf(
      config('wwebjs', findChrome(process.env.CHROME_PATH)),
      deps,
    )
    expect(problem).toBeUndefined()
    expect(simulator).toBeUndefined()
    expect(engines.kind).toBe('wwebjs')
    expect(typeof engines.create('default').start).toBe('function')
  })

  it('without a browser, gives engines whose every start fails naming CHROME_PATH', async () => {
    const missing = join(tempDir(), 'no-chromium-here')
    const { engines, problem } = await enginesOf(config('wwebjs', missing), deps)
    expect(problem?.message).toContain('CHROME_PATH')
    expect(engines.kind).toBe('wwebjs')
    await expect(engines.create('default').start()).rejects.toBe(problem)
  })
})
