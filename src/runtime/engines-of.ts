// The engines a gateway runs on, from its configuration: whatsapp-web.js on the system's Chromium, or the
// simulator. A missing browser does not stop the gateway: every start reports it, naming CHROME_PATH.
// whatsapp-web.js is loaded only when it is the engine (about half a second of a start).
import type { Clock } from '../clock.ts'
import { findChrome } from '../engines/chrome-path.ts'
import type { EngineFactory, WhatsAppEngine } from '../engines/engine.ts'
import { createSimulator, type Simulator } from '../engines/simulator.ts'
import type { IdSource } from '../ids.ts'

export interface EnginesConfig {
  engine: 'wwebjs' | 'simulator'
  dataDir: string
  chromePath: string | undefined
  simulator: { linkAfterMs: number; sendLatencyMs: number }
}

/** Engines that cannot start, each saying why. */
const unstartable = (kind: 'wwebjs', error: Error): EngineFactory => {
  const engine = (): WhatsAppEngine => ({
    start: () => Promise.reject(error),
    stop: () => Promise.resolve(),
    logout: () => Promise.resolve(),
    getState: () => Promise.reject(error),
    isRegistered: () => Promise.reject(error),
    sendText: () => Promise.reject(error),
    on: () => () => {},
  })
  return { kind, create: engine, discardAuth: () => Promise.resolve() }
}

/**
 * @example
 * const { engines, simulator, problem } = await enginesOf(config, { clock, newId })
 */
export const enginesOf = async (
  config: EnginesConfig,
  { clock, newId }: { clock: Clock; newId: IdSource },
): Promise<{ engines: EngineFactory; simulator?: Simulator; problem?: Error }> => {
  if (config.engine === 'simulator') {
    const simulator = createSimulator({
      dataDir: config.dataDir,
      clock,
      newId,
      linkAfterMs: config.simulator.linkAfterMs,
      sendLatencyMs: config.simulator.sendLatencyMs,
    })
    return { engines: simulator, simulator }
  }
  let chromePath: string
  try {
    chromePath = findChrome(config.chromePath)
  } catch (err) {
    const problem = err instanceof Error ? err : new Error(String(err))
    return { engines: unstartable('wwebjs', problem), problem }
  }
  const { createWwebjsEngines } = await import('../engines/wwebjs.ts')
  return { engines: createWwebjsEngines({ dataDir: config.dataDir, chromePath }) }
}
