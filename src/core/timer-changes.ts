// Turns the timers a fold step armed, cancelled or fired into rows for the `timers` projection.
import { parseIsoMs } from '../../machines/instant.ts'
import type { TimerRow } from '../projections/projector.ts'
import type { Aggregate } from './aggregates.ts'
import type { TimerChange } from './fold.ts'

/** The instant a fact carries, as epoch ms. */
export const atMsOf = (data: Record<string, unknown>): number => {
  const at = data['at']
  return typeof at === 'string' ? parseIsoMs(at) : Number.NaN
}

/**
 * Applies one step's timer changes, in order, to `net` (timer id → row, or null for "remove").
 * A timer is due `delayMs` after the instant of the fact that armed it.
 */
export const collectTimerChanges = (
  net: Map<string, TimerRow | null>,
  aggregate: Aggregate,
  step: { readonly timers: readonly TimerChange[]; readonly firedTimerId: string | null },
  atMs: number,
  version: number,
): void => {
  if (step.firedTimerId) net.set(step.firedTimerId, null)
  for (const t of step.timers) {
    if (t.kind === 'cancelled') {
      net.set(t.timerId, null)
    } else {
      const factType = aggregate.timerFacts[t.delay]
      if (!factType)
        throw new Error(`${aggregate.streamType} machine arms delay '${t.delay}' but names no fact for it`)
      net.set(t.timerId, {
        timerId: t.timerId,
        delay: t.delay,
        factType,
        dueMs: atMs + t.delayMs,
        armedVersion: version,
      })
    }
  }
}

export const splitTimerChanges = (
  net: Map<string, TimerRow | null>,
): { remove: string[]; upsert: TimerRow[] } => {
  const remove: string[] = []
  const upsert: TimerRow[] = []
  for (const [id, row] of net) {
    if (row === null) remove.push(id)
    else upsert.push(row)
  }
  return { remove, upsert }
}
