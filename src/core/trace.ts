// Replays one stream for an engineer: each event with the state before → after, the effects the machine
// asked for, and the timers it armed, cancelled or fired. Runs no effect.
import type { EventStore } from '../eventlog/event-store.ts'
import type { StoredEvent } from '../eventlog/types.ts'
import { aggregateOf, assertReadable } from './aggregates.ts'
import { type Effect, type Snapshot, stateLabel, type TimerChange } from './fold.ts'

export interface TraceLine {
  event: StoredEvent
  before: string
  after: string
  accepted: boolean
  effects: Effect[]
  timers: TimerChange[]
  fired: string | null
  snapshot: Snapshot
}

/**
 * @param onStep called after each event (the `--inspect` view streams from here)
 * @example
 * for (const line of traceStream(store, 'job-01H…')) console.log(line.before, '→', line.after)
 */
export const traceStream = (
  store: EventStore,
  streamId: string,
  onStep?: (line: TraceLine, machineEvent: { type: string }) => void,
): TraceLine[] => {
  const aggregate = aggregateOf(streamId)
  const { folder } = aggregate
  let snapshot = folder.initial
  const lines: TraceLine[] = []
  for (const event of store.readStream(streamId)) {
    assertReadable(event, aggregate)
    const machineEvent = folder.toMachineEvent(snapshot, event.type, event.data) ?? { type: event.type }
    const step = folder.step(snapshot, event.type, event.data)
    const line: TraceLine = {
      event,
      before: stateLabel(step.before.value),
      after: stateLabel(step.after.value),
      accepted: step.accepted,
      effects: step.effects,
      timers: step.timers,
      fired: step.firedTimerId,
      snapshot: step.after,
    }
    lines.push(line)
    onStep?.(line, machineEvent)
    snapshot = step.after
  }
  return lines
}

const describeTimer = (t: TimerChange): string =>
  t.kind === 'armed' ? `arm ${t.delay} (${t.delayMs} ms)` : `cancel ${t.timerId.split('.')[2] ?? t.timerId}`

/** One readable line per event. */
export const formatTraceLine = (line: TraceLine): string => {
  const e = line.event
  const at = typeof e.data['at'] === 'string' ? e.data['at'] : e.createdAt
  const parts = [
    `#${e.position} v${e.version} ${at} ${e.type}`,
    `  ${line.before || '(new)'} → ${line.after}${line.accepted ? '' : '   (not taken by the machine)'}`,
  ]
  if (line.effects.length > 0) parts.push(`  effects: ${line.effects.map((x) => x.type).join(', ')}`)
  const timers = [
    ...(line.fired ? [`fired ${line.fired.split('.')[2] ?? line.fired}`] : []),
    ...line.timers.map(describeTimer),
  ]
  if (timers.length > 0) parts.push(`  timers: ${timers.join(', ')}`)
  return parts.join('\n')
}
