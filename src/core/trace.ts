// Replays one stream for an engineer: each event with the state before → after, the effects the machine
// asked for, and the timers it armed, cancelled or fired. Runs no effect.
import type { EventStore } from '../eventlog/event-store.ts'
import type { StoredEvent } from '../eventlog/types.ts'
import { type Aggregate, aggregateOf, assertReadable } from './aggregates.ts'
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

/** One event's step: the line, and the event the machine was given (`after` events for timer facts). */
const traceStep = (
  aggregate: Aggregate,
  snapshot: Snapshot,
  event: StoredEvent,
): { line: TraceLine; machineEvent: { type: string } } => {
  assertReadable(event, aggregate)
  const { folder } = aggregate
  const machineEvent = folder.toMachineEvent(snapshot, event.type, event.data) ?? { type: event.type }
  const step = folder.step(snapshot, event.type, event.data)
  return {
    line: {
      event,
      before: stateLabel(step.before.value),
      after: stateLabel(step.after.value),
      accepted: step.accepted,
      effects: step.effects,
      timers: step.timers,
      fired: step.firedTimerId,
      snapshot: step.after,
    },
    machineEvent,
  }
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
  let snapshot = aggregate.folder.initial
  const lines: TraceLine[] = []
  for (const event of store.readStream(streamId)) {
    const { line, machineEvent } = traceStep(aggregate, snapshot, event)
    lines.push(line)
    onStep?.(line, machineEvent)
    snapshot = line.snapshot
  }
  return lines
}

/**
 * The last `limit` steps of a stream and how many it has, for a server. The whole stream is still folded,
 * but a page of events at a time, giving the event loop back between pages and keeping only the steps
 * asked for: a session's stream grows by its keepalives, and one a month old (about 170,000 events) takes
 * seconds to replay, which must not hold every other request.
 *
 * @example
 * const { total, steps } = await traceTail(store, 'session-default', 1000)
 */
export const traceTail = async (
  store: EventStore,
  streamId: string,
  limit: number,
  pageEvents = 500,
): Promise<{ total: number; steps: { line: TraceLine; machineEvent: { type: string } }[] }> => {
  const aggregate = aggregateOf(streamId)
  let snapshot = aggregate.folder.initial
  let kept: { line: TraceLine; machineEvent: { type: string } }[] = []
  let total = 0
  for (let from = 1; ; from += pageEvents) {
    const events = store.readStream(streamId, { fromVersion: from, toVersion: from + pageEvents - 1 })
    for (const event of events) {
      const step = traceStep(aggregate, snapshot, event)
      kept.push(step)
      snapshot = step.line.snapshot
      total++
    }
    if (kept.length > 2 * limit) kept = kept.slice(-limit)
    if (events.length < pageEvents) break
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
  return { total, steps: kept.slice(-limit) }
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
