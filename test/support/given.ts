// given / when / then over a machine's facts, folded exactly as the core folds them.
import { expect } from 'vitest'
import type { Aggregate } from '../../src/core/aggregates.ts'
import type { Fact } from '../../src/core/command-handler.ts'
import { eventSchemasOf } from '../../src/core/event-schemas.ts'
import { type Snapshot, type Step, stateLabel } from '../../src/core/fold.ts'

export interface Then {
  state: string
  context?: Record<string, unknown>
  effects?: string[]
  /** Delay names armed by this step, in order. */
  armed?: string[]
  /** Delay names cancelled by this step, in order. */
  cancelled?: string[]
}

const delayName = (timerId: string) => timerId.split('.')[2] ?? timerId

export const foldFacts = (aggregate: Aggregate, facts: Fact[]): Snapshot => {
  let snapshot = aggregate.folder.initial
  for (const f of facts) {
    eventSchemasOf[aggregate.streamType][f.type]?.parse(f.data)
    const step = aggregate.folder.step(snapshot, f.type, f.data)
    if (!step.accepted) throw new Error(`given: ${f.type} was refused in ${stateLabel(snapshot.value)}`)
    snapshot = step.after
  }
  return snapshot
}

/**
 * @example
 * given(aggregates.job, queued(), started(1)).when(failed(1, { retryable: true })).then({ state: 'delayed', armed: ['untilDue'] })
 */
export const given = (aggregate: Aggregate, ...facts: Fact[]) => {
  const snapshot = foldFacts(aggregate, facts)
  return {
    snapshot,
    when(fact: Fact) {
      eventSchemasOf[aggregate.streamType][fact.type]?.parse(fact.data)
      const step: Step = aggregate.folder.step(snapshot, fact.type, fact.data)
      return {
        step,
        // biome-ignore lint/suspicious/noThenProperty: given/when/then reads best; this object is never awaited
        then(expected: Then) {
          expect(step.accepted, `${fact.type} should be taken in ${stateLabel(snapshot.value)}`).toBe(true)
          expect(stateLabel(step.after.value)).toBe(expected.state)
          if (expected.context) expect(step.after.context).toMatchObject(expected.context)
          if (expected.effects) expect(step.effects.map((e) => e.type)).toEqual(expected.effects)
          if (expected.armed) {
            expect(step.timers.filter((t) => t.kind === 'armed').map((t) => delayName(t.timerId))).toEqual(
              expected.armed,
            )
          }
          if (expected.cancelled) {
            expect(
              step.timers.filter((t) => t.kind === 'cancelled').map((t) => delayName(t.timerId)),
            ).toEqual(expected.cancelled)
          }
          return step
        },
        refused() {
          expect(step.accepted, `${fact.type} should be refused in ${stateLabel(snapshot.value)}`).toBe(false)
          expect(step.after).toBe(snapshot)
          expect(step.effects).toEqual([])
          expect(step.timers).toEqual([])
        },
      }
    },
  }
}
