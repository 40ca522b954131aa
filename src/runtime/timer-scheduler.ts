// One scheduler for every persisted timer: it sleeps until the earliest due time, fires what is due by
// appending the timer's fact, and sleeps again. After a restart, overdue timers fire at once.
import type { Clock, TimerHandle } from '../clock.ts'
import type { CommandHandler } from '../core/command-handler.ts'
import { IllegalStateError } from '../errors.ts'
import type { Db } from '../eventlog/database.ts'
import type { EventStore } from '../eventlog/event-store.ts'

export interface DueTimer {
  stream_id: string
  timer_id: string
  delay: string
  fact_type: string
  due_at: string
  due_ms: number
}

export interface TimerScheduler {
  start(): void
  stop(): Promise<void>
  /** Resolves once every timer due now has fired (tests and shutdown use it). */
  idle(): Promise<void>
}

export interface TimerSchedulerDeps {
  db: Db
  store: EventStore
  commands: CommandHandler
  clock: Clock
  log?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void }
}

/** Appends the fact of a due timer; refused (and left to the stream) if the machine no longer waits on it. */
export const timerFirer = (commands: CommandHandler, db: Db) => {
  const stillArmed = db.prepare('SELECT 1 FROM timers WHERE stream_id = ? AND timer_id = ? AND due_ms = ?')
  return (timer: DueTimer) =>
    commands.execute(
      timer.stream_id,
      ({ now }) => {
        if (!stillArmed.get(timer.stream_id, timer.timer_id, timer.due_ms)) return []
        return [
          {
            type: timer.fact_type,
            data: { timer: timer.delay, dueAt: timer.due_at, at: new Date(now).toISOString() },
          },
        ]
      },
      { actor: 'timer-scheduler', causationId: `${timer.stream_id}/${timer.timer_id}` },
    )
}

/**
 * @example
 * const scheduler = createTimerScheduler({ db, store, commands, clock })
 * scheduler.start()
 */
export const createTimerScheduler = ({
  db,
  store,
  commands,
  clock,
  log,
}: TimerSchedulerDeps): TimerScheduler => {
  const fire = timerFirer(commands, db)
  const earliest = db.prepare('SELECT min(due_ms) FROM timers').pluck()
  const dueNow = db.prepare(
    'SELECT stream_id, timer_id, delay, fact_type, due_at, due_ms FROM timers WHERE due_ms <= ? ORDER BY due_ms, stream_id LIMIT 500',
  )
  let handle: TimerHandle | null = null
  let armedFor: number | null = null
  let running = false
  let firing: Promise<void> | null = null
  let unsubscribe: (() => void) | null = null
  // Timers the machine refused: kept out of the loop until their row changes.
  const refused = new Set<string>()

  const arm = () => {
    if (!running || firing) return
    const next = earliest.get() as number | null
    if (next === null) {
      handle?.cancel()
      handle = null
      armedFor = null
      return
    }
    if (armedFor === next && handle) return
    handle?.cancel()
    armedFor = next
    handle = clock.setTimer(wake, Math.max(0, next - clock.now()))
  }

  const fireDue = async () => {
    for (;;) {
      const due = (dueNow.all(clock.now()) as DueTimer[]).filter(
        (t) => !refused.has(`${t.stream_id}/${t.timer_id}/${t.due_ms}`),
      )
      if (due.length === 0 || !running) return
      for (const t of due) {
        try {
          await fire(t)
        } catch (err) {
          refused.add(`${t.stream_id}/${t.timer_id}/${t.due_ms}`)
          const level = err instanceof IllegalStateError ? 'warn' : 'error'
          log?.[level]({ err, streamId: t.stream_id, timer: t.delay }, 'timer could not fire')
        }
      }
    }
  }

  function wake() {
    handle = null
    armedFor = null
    if (firing || !running) return
    firing = fireDue().finally(() => {
      firing = null
      arm()
    })
  }

  return {
    start() {
      if (running) return
      running = true
      unsubscribe = store.subscribe(() => arm())
      // Overdue timers (the process was down when they came due) fire now.
      wake()
    },
    async stop() {
      running = false
      unsubscribe?.()
      handle?.cancel()
      handle = null
      await firing
    },
    async idle() {
      while (firing) await firing
    },
  }
}
