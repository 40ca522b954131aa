import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { backoffDelay } from '../../machines/backoff.ts'
import type { SessionEventType } from '../../machines/session-events.ts'
import { defaultSessionConfig, SESSION_HISTORY_SIZE } from '../../machines/session-machine.ts'
import { aggregates } from '../../src/core/aggregates.ts'
import type { Fact } from '../../src/core/command-handler.ts'
import { type Step, stateLabel } from '../../src/core/fold.ts'
import { at, session as s, T0 } from '../support/facts.ts'
import { foldFacts, given } from '../support/given.ts'

const agg = aggregates.session

const armedMs = (step: Step, delay: string) => {
  const found = step.timers.find((t) => t.kind === 'armed' && t.delay === delay)
  return found?.kind === 'armed' ? found.delayMs : undefined
}

const withConfig = (config: Partial<typeof defaultSessionConfig>) =>
  s.created({ config: { ...defaultSessionConfig, ...config } })

// One way into each resting state.
const created = [s.created()]
const starting = [...created, s.startRequested()]
const qr = [...starting, s.qrIssued()]
const authenticating = [...qr, s.authenticated()]
const idle = [...starting, s.ready()]
const probing = [...idle, s.keepaliveDue()]
const timeout = [...starting, s.startTimedOut()]
const restarting = [...starting, s.startFailed()]
const failed = [withConfig({ maxRestarts: 0 }), s.startRequested(), s.startFailed()]
const loggedOut = [...starting, s.authFailed()]

const ready = { 'ready.idle': idle, 'ready.probing': probing }
const live = { starting, qr, authenticating, ...ready, timeout, restarting }
/** The timer each live state has armed, cancelled when it is left. */
const timerOf: Record<string, string[]> = {
  starting: ['startTimeout'],
  qr: ['qrTimeout'],
  authenticating: ['authTimeout'],
  'ready.idle': ['keepalive'],
  'ready.probing': ['probeTimeout'],
  timeout: [],
  restarting: ['restartBackoff'],
}
const down = { stopped: created, failed, logged_out: loggedOut }
const rest = { ...live, ...down }
const entries = <T>(o: Record<string, T>) => Object.entries(o)

describe('sessionMachine: coming up', () => {
  it('creates a stopped session with its config', () => {
    given(agg)
      .when(s.created({ sessionId: 'sales', at: at(4) }))
      .then({
        state: 'stopped',
        effects: [],
        armed: [],
        context: { sessionId: 'sales', createdAtMs: T0 + 4 },
      })
    expect(foldFacts(agg, [withConfig({ keepaliveMs: 40_000 })]).context.config.keepaliveMs).toBe(40_000)
  })

  it('starts the engine and arms the start timeout', () => {
    const step = given(agg, ...created)
      .when(s.startRequested())
      .then({ state: 'starting', effects: ['startEngine'], armed: ['startTimeout'] })
    expect(armedMs(step, 'startTimeout')).toBe(defaultSessionConfig.startTimeoutMs)
  })

  it('shows a QR and arms the QR timeout in place of the start timeout', () => {
    const step = given(agg, ...starting)
      .when(s.qrIssued())
      .then({ state: 'qr', cancelled: ['startTimeout'], armed: ['qrTimeout'], context: { qrCount: 1 } })
    expect(armedMs(step, 'qrTimeout')).toBe(defaultSessionConfig.qrTimeoutMs)
  })

  it('stays in qr on a second QR without re-arming the QR timeout', () => {
    given(agg, ...qr)
      .when(s.qrIssued())
      .then({ state: 'qr', effects: [], armed: [], cancelled: [], context: { qrCount: 2 } })
  })

  it('stops the session with QR_TIMEOUT when no one scans the QR', () => {
    const step = given(agg, ...qr)
      .when(s.qrExpired())
      .then({ state: 'stopped', effects: ['stopEngine'], context: { lastError: { code: 'QR_TIMEOUT' } } })
    expect(step.firedTimerId).toContain('qrTimeout')
  })

  it.each([
    ['starting', starting, 'startTimeout'],
    ['qr', qr, 'qrTimeout'],
  ])('authenticates from %s and arms the auth timeout', (_from, facts, old) => {
    given(agg, ...facts)
      .when(s.authenticated())
      .then({ state: 'authenticating', cancelled: [old], armed: ['authTimeout'] })
  })

  it.each([
    ['authentication', authenticating, s.authTimedOut(), 'AUTH_TIMEOUT'],
    ['start', starting, s.startTimedOut(), 'START_TIMEOUT'],
  ])('times out a slow %s and stops the engine', (_what, facts, fact, code) => {
    given(agg, ...facts)
      .when(fact)
      .then({ state: 'timeout', effects: ['stopEngine'], armed: [], context: { lastError: { code } } })
  })

  // After one failed start, so that ready visibly resets the failure count.
  const again = [...starting, s.startFailed(), s.restartDue()]
  it.each([
    ['starting', again],
    ['qr', [...again, s.qrIssued()]],
    ['authenticating', [...again, s.qrIssued(), s.authenticated()]],
  ])('becomes ready.idle from %s with keepalive armed and failures reset', (_from, facts) => {
    expect(foldFacts(agg, facts).context.consecutiveFailures).toBe(1)
    const step = given(agg, ...facts)
      .when(s.ready('628111'))
      .then({
        state: 'ready.idle',
        effects: [],
        armed: ['keepalive'],
        context: { phoneNumber: '628111', consecutiveFailures: 0, lastError: null },
      })
    expect(armedMs(step, 'keepalive')).toBe(defaultSessionConfig.keepaliveMs)
  })
})

describe('sessionMachine: keepalive', () => {
  it('probes the engine when the keepalive is due', () => {
    const step = given(agg, ...idle)
      .when(s.keepaliveDue())
      .then({ state: 'ready.probing', effects: ['probeEngine'], armed: ['probeTimeout'] })
    expect(step.firedTimerId).toContain('keepalive')
    expect(armedMs(step, 'probeTimeout')).toBe(defaultSessionConfig.probeTimeoutMs)
  })

  it('goes back to idle and re-arms the keepalive on a probe answer', () => {
    given(agg, ...probing)
      .when(s.probeSucceeded())
      .then({ state: 'ready.idle', effects: [], cancelled: ['probeTimeout'], armed: ['keepalive'] })
  })

  it.each([
    ['a failed probe', s.probeFailed(), 'PROBE_FAILED'],
    ['a probe that timed out', s.probeTimedOut(), 'KEEPALIVE_TIMEOUT'],
  ])('times out on %s and stops the engine', (_what, fact, code) => {
    given(agg, ...probing)
      .when(fact)
      .then({
        state: 'timeout',
        effects: ['stopEngine'],
        cancelled: ['probeTimeout'],
        context: { lastError: { code } },
      })
  })
})

describe('sessionMachine: failures and restarts', () => {
  it('backs off once the timed-out engine has stopped', () => {
    const delay = backoffDelay({ baseMs: 2_000, maxMs: 300_000 }, 1, 0.25)
    const step = given(agg, ...timeout)
      .when(s.engineStopped(0.25))
      .then({
        state: 'restarting',
        effects: ['stopEngine'],
        armed: ['restartBackoff'],
        context: {
          consecutiveFailures: 1,
          restarts: 1,
          restartDelayMs: delay,
          lastError: { code: 'START_TIMEOUT' },
        },
      })
    expect(delay).toBe(1_800)
    expect(armedMs(step, 'restartBackoff')).toBe(delay)
  })

  it('starts again when the restart backoff is due', () => {
    given(agg, ...restarting)
      .when(s.restartDue())
      .then({
        state: 'starting',
        effects: ['startEngine'],
        cancelled: ['restartBackoff'],
        armed: ['startTimeout'],
      })
  })

  const coming = { starting, qr, authenticating, ...ready }
  it.each(entries(coming))('restarts after a disconnect in %s', (_from, facts) => {
    given(agg, ...facts)
      .when(s.disconnected('NAVIGATION'))
      .then({
        state: 'restarting',
        armed: ['restartBackoff'],
        context: { lastError: { code: 'DISCONNECTED' } },
      })
  })

  it.each(entries(coming))('logs out and discards auth on a LOGOUT disconnect in %s', (_from, facts) => {
    given(agg, ...facts)
      .when(s.disconnected('LOGOUT'))
      .then({ state: 'logged_out', effects: ['stopEngine', 'discardAuth'], armed: [] })
  })

  it.each(entries({ starting, qr, authenticating }))('logs out on an auth failure in %s', (_from, facts) => {
    given(agg, ...facts)
      .when(s.authFailed())
      .then({
        state: 'logged_out',
        effects: ['stopEngine', 'discardAuth'],
        context: { lastError: { code: 'AUTH_FAILURE' } },
      })
  })

  it.each(entries({ starting, qr }))('restarts after a failed start in %s', (_from, facts) => {
    given(agg, ...facts)
      .when(s.startFailed())
      .then({ state: 'restarting', effects: ['stopEngine'], context: { lastError: { code: 'NETWORK' } } })
  })

  /** The states, in order, after each of `n` consecutive start failures. */
  const afterFailures = (first: Fact[], n: number) => {
    let snapshot = foldFacts(agg, first)
    const seen: string[] = []
    for (let i = 0; i < n; i++) {
      if (i > 0) snapshot = agg.folder.step(snapshot, 'SessionRestartDue', s.restartDue().data).after
      snapshot = agg.folder.step(snapshot, 'SessionStartFailed', s.startFailed().data).after
      seen.push(stateLabel(snapshot.value))
    }
    return seen
  }

  // maxRestarts is the number of consecutive failed restarts allowed before giving up:
  // with 3, three failures restart and the fourth fails.
  it('allows maxRestarts = 3 restarts and fails the session on the 4th consecutive failure', () => {
    const seen = afterFailures([withConfig({ maxRestarts: 3 }), s.startRequested()], 4)
    expect(seen).toEqual(['restarting', 'restarting', 'restarting', 'failed'])
  })

  it('fails at once on the first failure with maxRestarts = 0, stops the engine and arms nothing', () => {
    given(agg, withConfig({ maxRestarts: 0 }), s.startRequested())
      .when(s.startFailed())
      .then({ state: 'failed', effects: ['stopEngine'], armed: [], cancelled: ['startTimeout'] })
  })

  it('counts consecutive failures only: a ready in between resets the count', () => {
    const first = [withConfig({ maxRestarts: 3 }), s.startRequested()]
    const twice = [...first, s.startFailed(), s.restartDue(), s.startFailed(), s.restartDue()]
    expect(foldFacts(agg, twice).context.consecutiveFailures).toBe(2)
    given(agg, ...twice, s.ready(), s.disconnected(), s.restartDue())
      .when(s.startFailed())
      .then({ state: 'restarting', armed: ['restartBackoff'], context: { consecutiveFailures: 2 } })
  })

  it('grows the restart delay exponentially across failures and stops at restartMaxMs', () => {
    let snapshot = foldFacts(agg, [
      withConfig({ restartBaseMs: 1_000, restartMaxMs: 5_000 }),
      s.startRequested(),
    ])
    const delays: (number | undefined)[] = []
    for (let i = 0; i < 5; i++) {
      const step = agg.folder.step(snapshot, 'SessionStartFailed', s.startFailed().data)
      delays.push(armedMs(step, 'restartBackoff'))
      snapshot = agg.folder.step(step.after, 'SessionRestartDue', s.restartDue().data).after
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 5_000, 5_000])
  })

  it('never rests in the transient failing state', () => {
    const types = [...agg.eventTypes].filter((t) => t !== 'SessionCreated') as SessionEventType[]
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...types), { maxLength: 40 }), (sequence) => {
        let snapshot = foldFacts(agg, [withConfig({ maxRestarts: 2 })])
        for (const type of sequence) {
          snapshot = agg.folder.step(snapshot, type, factOf(type).data).after
          expect(stateLabel(snapshot.value)).not.toBe('failing')
        }
      }),
    )
  })
})

describe('sessionMachine: operator commands', () => {
  it.each(entries(live))('stops the engine on a stop in %s', (from, facts) => {
    given(agg, ...facts)
      .when(s.stopRequested())
      .then({ state: 'stopped', effects: ['stopEngine'], armed: [], cancelled: timerOf[from] ?? [] })
  })

  it.each(entries({ failed, logged_out: loggedOut }))('moves %s to stopped on a stop', (_from, facts) => {
    given(agg, ...facts)
      .when(s.stopRequested())
      .then({ state: 'stopped', effects: [], armed: [] })
  })

  it.each(entries(rest))(
    'resets from %s: resetEngine before startEngine, failures cleared',
    (_from, facts) => {
      given(agg, ...facts)
        .when(s.resetRequested())
        .then({
          state: 'starting',
          effects: ['resetEngine', 'startEngine'],
          armed: ['startTimeout'],
          context: { consecutiveFailures: 0 },
        })
    },
  )

  it.each(entries(live))('logs out from %s', (from, facts) => {
    given(agg, ...facts)
      .when(s.logoutRequested())
      .then({
        state: 'logged_out',
        effects: ['logoutEngine', 'stopEngine', 'discardAuth'],
        armed: [],
        cancelled: timerOf[from] ?? [],
      })
  })

  it.each([
    ['stopped', created],
    ['failed', failed],
  ] as const)('logs out from %s without starting, discarding the auth', (_from, facts) => {
    given(agg, ...facts)
      .when(s.logoutRequested())
      .then({ state: 'logged_out', effects: ['stopEngine', 'discardAuth'], armed: [] })
  })

  it.each(entries(down))('starts from %s with failures reset', (_from, facts) => {
    given(agg, ...facts)
      .when(s.startRequested())
      .then({ state: 'starting', effects: ['startEngine'], context: { consecutiveFailures: 0 } })
  })

  it.each(entries(rest))('takes a config change in %s without moving or touching timers', (from, facts) => {
    given(agg, ...facts)
      .when(s.configured({ keepaliveMs: 45_000 }))
      .then({
        state: from,
        effects: [],
        armed: [],
        cancelled: [],
        context: { config: { keepaliveMs: 45_000 } },
      })
  })

  it('arms the keepalive with the configured length', () => {
    const step = given(agg, ...starting, s.configured({ keepaliveMs: 45_000 }))
      .when(s.ready())
      .then({ state: 'ready.idle', armed: ['keepalive'] })
    expect(armedMs(step, 'keepalive')).toBe(45_000)
  })
})

describe('sessionMachine: deletion, resumption and history', () => {
  it.each(entries(rest))(
    'deletes from %s: engine stopped, login discarded, timers cancelled',
    (from, facts) => {
      given(agg, ...facts)
        .when(s.deleted())
        .then({
          state: 'deleted',
          effects: ['stopEngine', 'discardAuth'],
          armed: [],
          cancelled: timerOf[from] ?? [],
        })
    },
  )

  it('creates a deleted session again, from scratch', () => {
    given(agg, withConfig({ maxRestarts: 0 }), s.startRequested(), s.startFailed(), s.deleted())
      .when(s.created({ sessionId: 'default', at: at(50) }))
      .then({
        state: 'stopped',
        effects: [],
        context: { consecutiveFailures: 0, restarts: 0, lastError: null, createdAtMs: T0 + 50 },
      })
  })

  it.each(entries({ starting, qr, authenticating, ...ready }))(
    'resumes %s after a process restart: a new engine, failures kept',
    (from, facts) => {
      const before = foldFacts(agg, facts)
      given(agg, ...facts)
        .when(s.resumed())
        .then({
          state: 'starting',
          effects: ['startEngine'],
          armed: ['startTimeout'],
          cancelled: timerOf[from] ?? [],
          context: { consecutiveFailures: before.context.consecutiveFailures },
        })
    },
  )

  it('keeps the last state changes, each with its time and, for down states, its error', () => {
    const snapshot = foldFacts(agg, [
      s.created({ at: at(0) }),
      { ...s.startRequested(), data: { at: at(1) } },
      { ...s.startFailed(), data: { ...s.startFailed().data, at: at(2) } },
      { ...s.restartDue(), data: { ...s.restartDue().data, at: at(3) } },
      { ...s.ready(), data: { ...s.ready().data, at: at(4) } },
    ])
    const error = snapshot.context.history.find((h: { state: string }) => h.state === 'restarting')?.error
    expect(snapshot.context.history.map((h: { state: string; atMs: number }) => [h.state, h.atMs])).toEqual([
      ['stopped', T0],
      ['starting', T0 + 1],
      ['restarting', T0 + 2],
      ['starting', T0 + 3],
      ['ready', T0 + 4],
    ])
    expect(error).toMatchObject({ code: expect.any(String) })
    expect(snapshot.context.history.at(-1).error).toBeNull()
  })

  it('keeps at most SESSION_HISTORY_SIZE changes, dropping the oldest', () => {
    const facts: Fact[] = [...created]
    for (let i = 0; i < 30; i++) facts.push(s.startRequested(), s.stopRequested())
    const { history } = foldFacts(agg, facts).context
    expect(history).toHaveLength(SESSION_HISTORY_SIZE)
    expect(history.at(-1).state).toBe('stopped')
    expect(history[0].state).toBe('starting')
  })
})

// The refusal matrix: each resting state, the fact types it takes, and by complement all it must refuse.
/** The shared builder for a fact type, with its defaults: `SessionQrIssued` → `session.qrIssued()`. */
const factOf = (type: SessionEventType): Fact => {
  if (type === 'SessionConfigured') return s.configured({ maxRestarts: 4 })
  const key = type.replace(/^Session(.)/, (_m, c: string) => c.toLowerCase()) as keyof typeof s
  return (s[key] as () => Fact)()
}

const ALL = [...agg.eventTypes] as SessionEventType[]
/** Fact types by short name; a misspelt one would fail its "takes" row below. */
const on = (...names: string[]) => names.map((n) => `Session${n}` as SessionEventType)
const operator = on('Configured', 'StopRequested', 'LogoutRequested', 'ResetRequested', 'Deleted')
const downOps = on('Configured', 'StartRequested', 'ResetRequested', 'StopRequested', 'Deleted')
const resumable = on('Resumed')
const upEvents = on('Ready', 'AuthFailed', 'Disconnected')
const takes: Record<string, { facts: Fact[]; takes: SessionEventType[] }> = {
  initial: { facts: [], takes: on('Created') },
  stopped: {
    facts: created,
    takes: [...downOps.filter((t) => t !== 'SessionStopRequested'), ...on('LogoutRequested')],
  },
  starting: {
    facts: starting,
    takes: [
      ...operator,
      ...upEvents,
      ...resumable,
      ...on('QrIssued', 'Authenticated', 'StartFailed', 'StartTimedOut'),
    ],
  },
  qr: {
    facts: qr,
    takes: [
      ...operator,
      ...upEvents,
      ...resumable,
      ...on('QrIssued', 'Authenticated', 'StartFailed', 'QrExpired'),
    ],
  },
  authenticating: {
    facts: authenticating,
    takes: [...operator, ...upEvents, ...resumable, ...on('AuthTimedOut')],
  },
  'ready.idle': {
    facts: idle,
    takes: [...operator, ...resumable, ...on('ProbeFailed', 'Disconnected', 'KeepaliveDue')],
  },
  'ready.probing': {
    facts: probing,
    takes: [
      ...operator,
      ...resumable,
      ...on('ProbeFailed', 'Disconnected', 'ProbeSucceeded', 'ProbeTimedOut'),
    ],
  },
  timeout: { facts: timeout, takes: [...operator, ...on('EngineStopped')] },
  restarting: { facts: restarting, takes: [...operator, ...on('RestartDue')] },
  failed: { facts: failed, takes: [...downOps, ...on('LogoutRequested')] },
  logged_out: { facts: loggedOut, takes: downOps },
  deleted: { facts: [...created, s.deleted()], takes: on('Created') },
}

describe('sessionMachine: refusals', () => {
  it.each(entries(takes))('reaches %s from its facts', (name, { facts }) => {
    expect(stateLabel(foldFacts(agg, facts).value)).toBe(name)
  })

  const refusals = entries(takes).flatMap(([name, st]) =>
    ALL.filter((t) => !st.takes.includes(t)).map((type) => [type, name, st.facts] as const),
  )
  it.each(refusals)('refuses %s while %s', (type, _name, facts) => {
    given(agg, ...facts)
      .when(factOf(type))
      .refused()
  })

  const accepted = entries(takes).flatMap(([name, st]) =>
    st.takes.map((type) => [type, name, st.facts] as const),
  )
  it.each(accepted)('takes %s while %s (the complement of the refusals)', (type, _name, facts) => {
    expect(agg.folder.step(foldFacts(agg, facts), type, factOf(type).data).accepted).toBe(true)
  })
})
