// Every session of this gateway: operator commands on their streams, one live actor each, and the
// sessions that were running brought back when the process starts.

import type { SessionConfig } from '../../machines/session-events.ts'
import { defaultSessionConfig } from '../../machines/session-machine.ts'
import { streamIds } from '../core/aggregates.ts'
import type { Fact } from '../core/command-handler.ts'
import { SESSION_ID } from '../engines/engine.ts'
import { ConflictError, IllegalStateError, NotFoundError, ValidationError } from '../errors.ts'
import type { Db } from '../eventlog/database.ts'
import { createSessionActor, type SessionActor, type SessionActorDeps } from './session-actor.ts'

/** What every session's actor is given, and the database the manager reads the sessions from. */
export interface SessionManagerDeps extends Omit<SessionActorDeps, 'sessionId'> {
  db: Db
  /** Settings for sessions created without their own (the `default` one included). */
  defaults?: Partial<SessionConfig>
}

/** The session that `/api/whatsapp/…` addresses and `kurir serve` runs. */
export const DEFAULT_SESSION = 'default'

/** States whose engine ran in the previous process: it is gone, so they start anew. */
const RESUMABLE = new Set(['starting', 'qr', 'authenticating', 'ready'])

/** A session id, checked: it becomes a folder name. */
export const checkSessionId = (id: string): string => {
  if (!SESSION_ID.test(id)) {
    throw new ValidationError(
      `a session id is 1 to 64 letters, digits, '_' or '-' (got '${id.slice(0, 80)}')`,
      { details: { sessionId: id } },
    )
  }
  return id
}

/**
 * @example
 * const sessions = createSessionManager({ db, store, commands, engines, clock, log })
 * await sessions.boot()            // brings back what ran, creates and starts `default` on a new install
 * await sessions.create('sales')
 * await sessions.start('sales')
 */
export const createSessionManager = (deps: SessionManagerDeps) => {
  const { db, defaults, ...actorDeps } = deps
  const { commands, clock, log } = deps
  const actors = new Map<string, SessionActor>()
  const listIds = db.prepare("SELECT id FROM sessions WHERE state <> 'deleted' ORDER BY id").pluck()
  const allIds = db.prepare('SELECT id FROM sessions ORDER BY id').pluck()
  const rowState = db.prepare('SELECT state FROM sessions WHERE id = ?').pluck()
  const at = () => new Date(clock.now()).toISOString()
  const config = (own?: Partial<SessionConfig>): SessionConfig => ({
    ...defaultSessionConfig,
    ...defaults,
    ...own,
  })

  const actorOf = (sessionId: string): SessionActor => {
    let actor = actors.get(sessionId)
    if (!actor) {
      actor = createSessionActor({ ...actorDeps, sessionId })
      actor.start()
      actors.set(sessionId, actor)
    }
    return actor
  }

  // The projection row's state: the same as folding the stream, without restoring a snapshot.
  const stateOf = (sessionId: string): string =>
    (rowState.get(checkSessionId(sessionId)) as string | undefined) ?? 'initial'

  /** The session's actor; NotFoundError when there is no such session. */
  const existing = (sessionId: string): SessionActor => {
    const state = stateOf(sessionId)
    if (state === 'initial' || state === 'deleted') {
      throw new NotFoundError(`no session '${sessionId}'`, { details: { sessionId } })
    }
    return actorOf(sessionId)
  }

  /** Runs one operator fact against an existing session (409 when its state does not allow it). */
  const operate = async (sessionId: string, type: string, extra: Fact['data'] = {}) => {
    const actor = existing(sessionId)
    await commands.execute(streamIds.session(sessionId), () => [{ type, data: { ...extra, at: at() } }], {
      actor: 'operator',
    })
    return actor
  }

  const create = async (sessionId: string, own?: Partial<SessionConfig>) => {
    checkSessionId(sessionId)
    const state = stateOf(sessionId)
    if (state !== 'initial' && state !== 'deleted') {
      throw new ConflictError(`session '${sessionId}' already exists`, { details: { sessionId } })
    }
    await commands.execute(
      streamIds.session(sessionId),
      () => [{ type: 'SessionCreated', data: { sessionId, config: { ...config(own) }, at: at() } }],
      { actor: 'operator' },
    )
    return actorOf(sessionId)
  }

  return {
    create,
    start: (id: string) => operate(id, 'SessionStartRequested'),
    stop: (id: string) => operate(id, 'SessionStopRequested'),
    logout: (id: string) => operate(id, 'SessionLogoutRequested'),
    reset: (id: string) => operate(id, 'SessionResetRequested'),
    async remove(id: string): Promise<void> {
      await operate(id, 'SessionDeleted')
    },
    /** The live actor of an existing session (NotFoundError otherwise). */
    get: existing,
    /** Whether the session exists (and is not deleted). */
    exists: (sessionId: string): boolean => {
      const state = stateOf(sessionId)
      return state !== 'initial' && state !== 'deleted'
    },
    /** The engine of a session that is ready to send; null otherwise. */
    readyEngine: (sessionId: string) => {
      const actor = actors.get(sessionId)
      return actor && actor.state() === 'ready' ? actor.engine() : null
    },
    /** The QR on show for a session, from its live actor; null when none waits for a scan. */
    qrOf: (sessionId: string) => actors.get(sessionId)?.qr() ?? null,
    /** Ids of every session that exists, deleted ones left out. */
    ids: (): string[] => listIds.all() as string[],

    /**
     * At process start: an actor for every session; sessions whose engine was running start it again, a
     * timed-out one goes on to its backoff; on a new install `default` is created and started.
     */
    async boot(): Promise<void> {
      const ids = allIds.all() as string[]
      for (const id of ids) {
        const actor = actorOf(id)
        const state = actor.state()
        const fact = RESUMABLE.has(state)
          ? 'SessionResumed'
          : state === 'timeout'
            ? 'SessionEngineStopped'
            : null
        if (!fact) continue
        log.info({ sessionId: id, state }, 'bringing the session back')
        try {
          await commands.execute(
            streamIds.session(id),
            () => [
              {
                type: fact,
                data:
                  fact === 'SessionEngineStopped'
                    ? { jitter: (deps.random ?? Math.random)(), at: at() }
                    : { at: at() },
              },
            ],
            { actor: 'boot' },
          )
        } catch (err) {
          if (!(err instanceof IllegalStateError)) throw err
        }
      }
      if (!ids.includes(DEFAULT_SESSION)) {
        await create(DEFAULT_SESSION)
        await commands.execute(
          streamIds.session(DEFAULT_SESSION),
          () => [{ type: 'SessionStartRequested', data: { at: at() } }],
          { actor: 'boot' },
        )
      }
    },

    /** Resolves once every session's effects so far are done. */
    async settled(): Promise<void> {
      await Promise.all([...actors.values()].map((a) => a.settled()))
    },

    /** Stops every engine (no browser outlives the gateway); the log keeps each session's state. */
    async close(): Promise<void> {
      await Promise.all([...actors.values()].map((a) => a.close()))
      actors.clear()
    },
  }
}

export type SessionManager = ReturnType<typeof createSessionManager>
