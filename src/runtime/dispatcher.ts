// One session's dispatcher: while the session is ready and its queue runs, it takes waiting jobs by
// priority then age, up to the queue's concurrency, records each attempt's start durably, sends through
// the session's engine and records the outcome. It is woken by commits, never by polling.
import type { QueueConfig } from '../../machines/queue-events.ts'
import type { Clock, TimerHandle } from '../clock.ts'
import { streamIds } from '../core/aggregates.ts'
import type { CommandHandler, Fact } from '../core/command-handler.ts'
import { stateLabel } from '../core/fold.ts'
import { EngineError, type SentMessage, type WhatsAppEngine } from '../engines/engine.ts'
import { IllegalStateError } from '../errors.ts'
import { busyCodeOf, type Db } from '../eventlog/database.ts'
import type { SendMetrics } from '../metrics.ts'
import { queueStateReader } from '../projections/queue-state.ts'
import type { RuntimeLog } from './session-actor.ts'

export interface DispatcherDeps {
  sessionId: string
  db: Db
  commands: CommandHandler
  /** The session's engine while the session is ready; null otherwise. */
  readyEngine: () => WhatsAppEngine | null
  clock: Clock
  log: RuntimeLog
  random?: () => number
  metrics?: SendMetrics
}

type WaitingJob = { id: string; chat_id: string; body: string; created_at: string }

/** First wait before an outcome the database refused is recorded again; it doubles up to the most. */
const OUTCOME_RETRY_MS = 500
const OUTCOME_RETRY_MAX_MS = 8_000

/** Chats found on WhatsApp (or not) stay known this long; a first send to a chat asks. */
const REGISTRATION_TTL_MS = 24 * 3600_000
const REGISTRATION_CACHE_SIZE = 50_000
const MINUTE_MS = 60_000
/** Waiting jobs looked at past the ones the dispatcher can take, to find chats outside their gap. */
const LOOKAHEAD = 100
/**
 * When every job of that first look is held back by its chat's gap, a deeper look reads this many more,
 * skipping the held chats in SQLite: a bulk send to one chat does not hold back the chats queued behind it.
 */
const DEEP_LOOK = 5_000
/** At most this many of the log's latest events are read at start to find the sends pacing counts. */
const PACE_HISTORY_EVENTS = 200_000
/** Above this many remembered chats, those outside their gap are forgotten. */
const CHAT_MEMORY = 10_000

/** A session's next waiting jobs, by priority then age (parameters: session id, how many). */
export const WAITING_JOBS_SQL = `SELECT id, chat_id, body, created_at FROM jobs WHERE session_id = ? AND status = 'waiting'
  ORDER BY priority_rank, created_at, id LIMIT CAST(? AS INTEGER)`

/**
 * The same order, among the first DEEP_LOOK waiting jobs, leaving out chats held back by their gap
 * (parameters: session id, how many to read, the held chats as a JSON array, how many to answer).
 */
const WAITING_JOBS_OF_FREE_CHATS_SQL = `SELECT id, chat_id, body, created_at FROM (
    SELECT id, chat_id, body, created_at, priority_rank FROM jobs WHERE session_id = ? AND status = 'waiting'
    ORDER BY priority_rank, created_at, id LIMIT CAST(? AS INTEGER)
  ) WHERE chat_id NOT IN (SELECT value FROM json_each(?))
  ORDER BY priority_rank, created_at, id LIMIT CAST(? AS INTEGER)`

/**
 * @example
 * const dispatcher = createDispatcher({ sessionId: 'default', db, commands, readyEngine, clock, log })
 * dispatcher.wake()
 */
export const createDispatcher = (deps: DispatcherDeps) => {
  const { sessionId, db, commands, clock, log } = deps
  const random = deps.random ?? Math.random
  const queueOf = queueStateReader(db)
  const waiting = db.prepare(WAITING_JOBS_SQL)
  const waitingOfFreeChats = db.prepare(WAITING_JOBS_OF_FREE_CHATS_SQL)
  const inFlight = new Set<string>()
  const registered = new Map<string, { onWhatsApp: boolean; atMs: number }>()
  let pumping = false
  let again = false
  let closed = false
  let lastSendMs = Number.NEGATIVE_INFINITY
  let paceTimer: TimerHandle | null = null
  /** When the armed pace timer's wait ends, before its random spread. */
  let paceDueMs = Number.POSITIVE_INFINITY
  /** When recent sends started (the last minute's), oldest first. */
  const recentStarts: number[] = []
  /** When the last message to each chat started, for the same-chat gap. */
  const lastToChat = new Map<string, number>()

  /**
   * Pacing counts the sends of the process before this one too: the starts of the last minute (or of
   * the longest gap configured) are read back from the log, so a restart does not let a burst out.
   */
  const rememberRecentStarts = () => {
    const { config } = queueState()
    const now = clock.now()
    const since = now - Math.max(MINUTE_MS, config.sendIntervalMs, config.sameChatGapMs)
    const chatOf = db.prepare('SELECT chat_id FROM jobs WHERE id = ? AND session_id = ?').pluck()
    const latest = db
      .prepare('SELECT stream_id, type, data, created_at FROM events ORDER BY position DESC')
      .iterate() as IterableIterator<{ stream_id: string; type: string; data: string; created_at: string }>
    const starts: { atMs: number; chat: string }[] = []
    let read = 0
    for (const e of latest) {
      if (++read > PACE_HISTORY_EVENTS || Date.parse(e.created_at) < since) break
      if (e.type !== 'JobAttemptStarted') continue
      const chat = chatOf.get(e.stream_id.slice('job-'.length), sessionId) as string | undefined
      const atMs = Date.parse((JSON.parse(e.data) as { at: string }).at)
      if (chat !== undefined && atMs >= since && atMs <= now) starts.push({ atMs, chat })
    }
    for (const { atMs, chat } of starts.reverse()) {
      lastSendMs = Math.max(lastSendMs, atMs)
      if (atMs > now - MINUTE_MS) recentStarts.push(atMs)
      lastToChat.set(chat, Math.max(lastToChat.get(chat) ?? atMs, atMs))
    }
  }

  /** How long until the next send of this session may start (0: now). */
  const paceWait = (config: QueueConfig, now: number): number => {
    let wait = config.sendIntervalMs > 0 ? lastSendMs + config.sendIntervalMs - now : 0
    while (recentStarts.length > 0 && (recentStarts[0] as number) <= now - MINUTE_MS) recentStarts.shift()
    if (config.maxPerMinute > 0 && recentStarts.length >= config.maxPerMinute) {
      const oldestThatCounts = recentStarts[recentStarts.length - config.maxPerMinute] as number
      wait = Math.max(wait, oldestThatCounts + MINUTE_MS - now)
    }
    if (lastToChat.size > CHAT_MEMORY) {
      for (const [chat, t] of lastToChat) if (t <= now - config.sameChatGapMs) lastToChat.delete(chat)
    }
    return wait
  }

  /**
   * Looks again after `wait`, plus a random part of the spread. A timer already armed for later is
   * replaced (a lowered setting, or a chat whose gap ends first); one armed for sooner is kept, with
   * its spread, rather than drawn again on every look.
   */
  const paceLater = (config: QueueConfig, wait: number) => {
    const due = clock.now() + wait
    if (paceTimer && paceDueMs <= due) return
    paceTimer?.cancel()
    paceDueMs = due
    paceTimer = clock.setTimer(
      () => {
        paceTimer = null
        paceDueMs = Number.POSITIVE_INFINITY
        wake()
      },
      wait + Math.floor(random() * config.paceSpreadMs),
    )
  }
  const running = new Set<Promise<void>>()

  const at = () => new Date(clock.now()).toISOString()

  const queueState = () => {
    const q = queueOf(sessionId)
    const cooling = q.cooldownUntil ? Date.parse(q.cooldownUntil) > clock.now() : false
    return { paused: q.paused, cooling, config: q.config }
  }

  /** Appends facts to a job unless its machine has moved on; answers whether they were taken. */
  const record = async (jobId: string, decide: (state: string, attempts: number) => Fact[]) => {
    try {
      const result = await commands.execute(
        streamIds.job(jobId),
        ({ snapshot }) =>
          decide(stateLabel(snapshot.value), (snapshot.context as { attempts: number }).attempts),
        { actor: `dispatcher:${sessionId}` },
      )
      return result.events.length > 0
    } catch (err) {
      if (err instanceof IllegalStateError) return false
      throw err
    }
  }

  /**
   * Records what became of an attempt. The outcome is a fact already (the engine has answered), so a
   * database that cannot take it yet (another process holds the write lock past the busy timeout) is
   * asked again until it does, or until the dispatcher closes; never is it taken for a failed send.
   */
  const recordOutcome = async (jobId: string, decide: (state: string, attempts: number) => Fact[]) => {
    for (let wait = OUTCOME_RETRY_MS; ; wait = Math.min(wait * 2, OUTCOME_RETRY_MAX_MS)) {
      try {
        return await record(jobId, decide)
      } catch (err) {
        const code = busyCodeOf(err)
        if (code === null || closed) throw err
        log.warn({ sessionId, jobId, code }, 'the database is busy; recording the outcome again shortly')
        await new Promise<void>((resolve) => clock.setTimer(resolve, wait))
      }
    }
  }

  /** Whether the job's chat is on WhatsApp: groups are, others are asked once a day. Logs the answer. */
  const isOnWhatsApp = async (engine: WhatsAppEngine, job: WaitingJob, attempt: number): Promise<boolean> => {
    const chatId = job.chat_id
    if (chatId.endsWith('@g.us')) {
      log.info(
        { sessionId, jobId: job.id, attempt, onWhatsApp: true, cached: false, group: true },
        'contact validated',
      )
      return true
    }
    const known = registered.get(chatId)
    if (known && clock.now() - known.atMs < REGISTRATION_TTL_MS) {
      log.info(
        { sessionId, jobId: job.id, attempt, onWhatsApp: known.onWhatsApp, cached: true },
        'contact validated',
      )
      return known.onWhatsApp
    }
    const onWhatsApp = await engine.isRegistered(chatId)
    if (registered.size >= REGISTRATION_CACHE_SIZE) registered.clear()
    registered.set(chatId, { onWhatsApp, atMs: clock.now() })
    log.info({ sessionId, jobId: job.id, attempt, onWhatsApp, cached: false }, 'contact validated')
    return onWhatsApp
  }

  /**
   * One attempt at a job. `release` gives its slot back as soon as the engine has answered, before the
   * outcome is recorded: the outcome and the next attempt's start then share one commit, so a slot waits
   * for one durable commit per message instead of two.
   */
  const attempt = async (job: WaitingJob, engine: WhatsAppEngine, release: () => void) => {
    let attemptNo = 0
    // The attempt's start is durable before the engine is called: a crash after this point is seen
    // as an interrupted attempt when the process starts again.
    const started = await record(job.id, (state, attempts) => {
      if (state !== 'waiting') return []
      attemptNo = attempts + 1
      return [{ type: 'JobAttemptStarted', data: { attempt: attemptNo, at: at() } }]
    })
    if (!started) return
    if (deps.readyEngine() !== engine) {
      // The session dropped while the start was being recorded: nothing goes to a dead engine, and an
      // attempt that never reached it is given back.
      release()
      log.info(
        { sessionId, jobId: job.id, attempt: attemptNo },
        'session no longer ready; attempt given back',
      )
      await recordOutcome(job.id, (state) =>
        state === 'active' ? [{ type: 'JobAttemptWithdrawn', data: { attempt: attemptNo, at: at() } }] : [],
      )
      return
    }
    log.info({ sessionId, jobId: job.id, attempt: attemptNo }, 'processing message')
    const failed = (error: { code: string; message: string; retryable: boolean }) => {
      // The code and its class only: an engine's message can quote the chat id.
      log.warn(
        {
          sessionId,
          jobId: job.id,
          attempt: attemptNo,
          errorClass: error.retryable ? 'retryable' : 'permanent',
          code: error.code,
          retryable: error.retryable,
        },
        'message send failed',
      )
      deps.metrics?.failed(sessionId, error.code, error.retryable)
      return recordOutcome(job.id, (state) =>
        state === 'active'
          ? [{ type: 'JobAttemptFailed', data: { attempt: attemptNo, error, jitter: random(), at: at() } }]
          : [],
      )
    }
    // Only the engine's answers are caught here: a failure to record them is not a failed send.
    let sent: SentMessage | null
    try {
      if (await isOnWhatsApp(engine, job, attemptNo)) {
        log.info({ sessionId, jobId: job.id, attempt: attemptNo }, 'sending message')
        sent = await engine.sendText(job.chat_id, job.body, { jobId: job.id, attempt: attemptNo })
      } else {
        sent = null
      }
    } catch (err) {
      if (err instanceof EngineError && err.code === 'RATE_LIMITED') {
        // WhatsApp asked us to slow down: the attempt is given back and the whole queue rests.
        log.warn(
          {
            sessionId,
            jobId: job.id,
            attempt: attemptNo,
            errorClass: 'rate_limited',
            code: err.code,
            retryable: true,
          },
          'message send failed',
        )
        log.warn({ sessionId }, 'rate limited by WhatsApp; the queue cools down')
        deps.metrics?.rateLimited(sessionId)
        await recordOutcome(job.id, (state) =>
          state === 'active' ? [{ type: 'JobRateLimited', data: { attempt: attemptNo, at: at() } }] : [],
        )
        await commands
          .execute(
            streamIds.queue(sessionId),
            () => [{ type: 'QueueCooldownStarted', data: { reason: err.message, at: at() } }],
            { actor: `dispatcher:${sessionId}` },
          )
          .catch(() => {})
        return
      }
      // Rate limiting keeps its slot until the cooldown is recorded; any other failure gives it back now.
      release()
      const error =
        err instanceof EngineError
          ? { code: err.code, message: err.message, retryable: err.retryable }
          : {
              code: 'ENGINE_ERROR',
              message: err instanceof Error ? err.message : String(err),
              retryable: true,
            }
      await failed(error)
      return
    }
    release()
    if (sent === null) {
      await failed({ code: 'NOT_REGISTERED', message: `${job.chat_id} is not on WhatsApp`, retryable: false })
      return
    }
    const { messageId } = sent
    log.info({ sessionId, jobId: job.id, attempt: attemptNo, messageId }, 'message sent')
    deps.metrics?.sent(sessionId, attemptNo, Date.parse(job.created_at), clock.now())
    await recordOutcome(job.id, (state) =>
      state === 'active' ? [{ type: 'JobSent', data: { attempt: attemptNo, messageId, at: at() } }] : [],
    )
  }

  const pump = async () => {
    if (pumping) {
      again = true
      return
    }
    pumping = true
    try {
      do {
        again = false
        if (closed) return
        const engine = deps.readyEngine()
        if (!engine) return
        const queue = queueState()
        if (queue.paused || queue.cooling) return
        const room = queue.config.concurrency - inFlight.size
        if (room <= 0) return
        const { config } = queue
        const now = clock.now()
        const wait = paceWait(config, now)
        if (wait > 0) {
          paceLater(config, wait)
          return
        }
        // Paced by time: one send per look, then look again.
        let take = config.sendIntervalMs > 0 ? 1 : room
        if (config.maxPerMinute > 0) take = Math.min(take, config.maxPerMinute - recentStarts.length)
        const jobs: WaitingJob[] = []
        const chats = new Set<string>()
        let chatWait = Number.POSITIVE_INFINITY
        // Jobs in flight are still waiting in the projection until their start commits; past those, a
        // look ahead only matters when a chat's gap can hold a job back.
        const lookahead = config.sameChatGapMs > 0 ? LOOKAHEAD : 0
        const looked = take + inFlight.size + lookahead
        const first = waiting.all(sessionId, looked) as WaitingJob[]
        for (const job of first) {
          if (jobs.length >= take) break
          if (inFlight.has(job.id)) continue
          if (config.sameChatGapMs > 0) {
            // Two messages to one chat keep their distance; a later job to another chat may go first.
            const gap = chats.has(job.chat_id)
              ? config.sameChatGapMs
              : (lastToChat.get(job.chat_id) ?? Number.NEGATIVE_INFINITY) + config.sameChatGapMs - now
            if (gap > 0) {
              chatWait = Math.min(chatWait, gap)
              continue
            }
          }
          chats.add(job.chat_id)
          jobs.push(job)
        }
        if (jobs.length < take && lookahead > 0 && first.length === looked) {
          // Everything in view that could go is held back by its chat's gap: look past it, leaving out
          // the held chats in SQLite.
          const held = [...chats]
          for (const [chat, t] of lastToChat) if (t + config.sameChatGapMs > now) held.push(chat)
          const deeper = waitingOfFreeChats.all(
            sessionId,
            DEEP_LOOK,
            JSON.stringify(held),
            take - jobs.length + inFlight.size,
          ) as WaitingJob[]
          for (const job of deeper) {
            if (jobs.length >= take) break
            if (inFlight.has(job.id) || chats.has(job.chat_id)) continue
            chats.add(job.chat_id)
            jobs.push(job)
          }
        }
        if (jobs.length === 0 && chatWait < Number.POSITIVE_INFINITY) paceLater(config, chatWait)
        for (const job of jobs) {
          inFlight.add(job.id)
          lastSendMs = now
          recentStarts.push(now)
          lastToChat.set(job.chat_id, now)
          let released = false
          const release = () => {
            if (released) return
            released = true
            inFlight.delete(job.id)
            wake()
          }
          const run = attempt(job, engine, release)
            .catch((err: unknown) => log.error({ err, jobId: job.id }, 'send attempt could not be recorded'))
            .finally(() => {
              release()
              running.delete(run)
            })
          running.add(run)
        }
        if (jobs.length > 0 && config.sendIntervalMs > 0) again = true
      } while (again)
    } finally {
      pumping = false
    }
  }

  function wake() {
    if (closed) return
    // After the current commit's other subscribers (the session actor among them) have seen it.
    queueMicrotask(() => {
      pump().catch((err: unknown) => log.error({ err, sessionId }, 'dispatcher failed'))
    })
  }

  rememberRecentStarts()

  return {
    sessionId,
    wake,
    /** Sends in flight now. */
    inFlight: () => inFlight.size,
    /**
     * At process start: attempts that were in flight when the process stopped are interrupted — retried,
     * or failed when the queue is configured for at most once. Either way the job says it may have been
     * sent twice.
     */
    async recoverInterrupted(): Promise<number> {
      const { config } = queueState()
      const active = db
        .prepare("SELECT id FROM jobs INDEXED BY jobs_by_status WHERE status = 'active' AND session_id = ?")
        .pluck()
        .all(sessionId) as string[]
      for (const id of active) {
        await record(id, (state, attempts) =>
          state === 'active'
            ? [
                {
                  type: 'JobAttemptInterrupted',
                  data: { attempt: attempts, retry: config.onInterrupted === 'retry', at: at() },
                },
              ]
            : [],
        )
      }
      return active.length
    },
    /** Resolves once the sends in flight have been recorded (stop their engines first when closing). */
    async drained(): Promise<void> {
      while (running.size > 0) await Promise.all([...running])
    },
    /** Takes no new job from now on. */
    close(): void {
      closed = true
      paceTimer?.cancel()
    },
  }
}

export type Dispatcher = ReturnType<typeof createDispatcher>
