import { spawn } from 'node:child_process'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { streamIds } from '../../src/core/aggregates.ts'
import { runKurir } from '../support/cli.ts'
import { jobSentOnSecondAttempt, session } from '../support/facts.ts'
import { openTestCore } from '../support/store.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const WRITER = new URL('../fixtures/crash-writer.ts', import.meta.url).pathname
const JOB = '01JTEST0000000000000000001'

const run = runKurir

/** A data folder with one job sent after a retry and one session that is ready. */
const seeded = async () => {
  const dir = tempDir()
  const core = openTestCore(dir)
  await core.commands.execute(streamIds.job(JOB), jobSentOnSecondAttempt)
  await core.commands.execute(streamIds.session('default'), () => [
    session.created(),
    session.startRequested(),
    session.qrIssued(),
  ])
  await core.close()
  return dir
}

/** Writes straight into the log, as only a broken tool or a tampering hand could. */
const forge = (dir: string, type: string, data: string, schemaVersion = 1) => {
  const db = new Database(join(dir, 'kurir.db'))
  db.pragma('ignore_check_constraints = ON')
  const version =
    (db
      .prepare('SELECT max(version) FROM events WHERE stream_id = ?')
      .pluck()
      .get(streamIds.job(JOB)) as number) + 1
  db.prepare(
    `INSERT INTO events (event_id, stream_id, stream_type, version, type, schema_version, data, metadata, created_at)
     VALUES ('01JFORGED00000000000000000', ?, 'job', ?, ?, ?, ?, '{}', '2026-01-05T08:00:00.000Z')`,
  ).run(streamIds.job(JOB), version, type, schemaVersion, data)
  db.close()
}
const jobsRow = (dir: string) => {
  const db = new Database(join(dir, 'kurir.db'), { readonly: true })
  const row = db.prepare('SELECT status, version FROM jobs').get()
  db.close()
  return row
}

describe('kurir replay', () => {
  it('verify finds a healthy database identical to a rebuild (exit 0)', async () => {
    const r = await run(await seeded(), 'replay', 'verify')
    expect(r).toMatchObject({ code: 0 })
    expect(r.out).toMatch(/identical to a rebuild from 9 events in 2 streams/)
  })

  it('verify prints the differences and exits 1; rebuild repairs them', async () => {
    const dir = await seeded()
    const db = new Database(join(dir, 'kurir.db'))
    db.prepare("UPDATE jobs SET status = 'failed'").run()
    db.close()
    const r = await run(dir, 'replay', 'verify')
    expect(r.code).toBe(1)
    expect(r.out).toMatch(/table jobs:/)
    expect(r.out).toMatch(/live {4}\{.*"status":"failed"/)
    expect(r.out).toMatch(/rebuilt \{.*"status":"completed"/)
    expect((await run(dir, 'replay', 'rebuild')).out).toMatch(
      /rebuilt projections from 9 events in 2 streams/,
    )
    expect((await run(dir, 'replay', 'verify')).code).toBe(0)
  })

  it('trace prints every event with the state before → after, effects and timers', async () => {
    const r = await run(await seeded(), 'replay', 'trace', streamIds.job(JOB))
    expect(r.code).toBe(0)
    expect(r.out).toContain('JobQueued\n  (new) → waiting'.replace('(new)', 'initial'))
    expect(r.out).toMatch(/JobAttemptStarted\n {2}waiting → active\n {2}effects: sendMessage/)
    expect(r.out).toMatch(/JobAttemptFailed\n {2}active → delayed\n {2}timers: arm untilDue \(2000 ms\)/)
    expect(r.out).toMatch(
      /JobDue\n {2}delayed → waiting\n {2}effects: wakeDispatcher\n {2}timers: fired untilDue/,
    )
    expect(r.out).toMatch(/JobSent\n {2}active → completed\n {2}effects: reportCompleted/)
    expect(r.out).toMatch(/6 events, traced in [\d.]+ ms/)
  })

  it('trace names a stream that does not exist', async () => {
    const r = await run(await seeded(), 'replay', 'trace', 'job-nothing')
    expect(r).toMatchObject({ code: 1, err: 'kurir: no events in stream job-nothing' })
  })

  it.each([
    [
      'corrupt JSON',
      'JobCancelled',
      '{"reason": "x", "at": ',
      1,
      /position 10 \(JobCancelled in job-.*\) has corrupt JSON in its data/,
    ],
    [
      'an unknown event type',
      'JobTeleported',
      '{"at":"2026-01-05T08:00:00.000Z"}',
      1,
      /position 10 .*unknown event type 'JobTeleported'/,
    ],
    [
      'an unknown schema version',
      'JobCancelled',
      '{"reason":"x","at":"2026-01-05T08:00:00.000Z"}',
      7,
      /schema version 7 is not known/,
    ],
  ])(
    'rebuild stops on %s, names the event and writes nothing',
    async (_, type, data, schemaVersion, message) => {
      const dir = await seeded()
      forge(dir, type, data, schemaVersion)
      const before = jobsRow(dir)
      for (const sub of ['rebuild', 'verify']) {
        const r = await run(dir, 'replay', sub)
        expect(r.code).toBe(1)
        expect(r.err).toMatch(message)
      }
      expect(jobsRow(dir)).toEqual(before)
    },
  )
})

describe('kurir events export, migrate and bad input', () => {
  it('exports the log as NDJSON, filtered by stream and position', async () => {
    const dir = await seeded()
    const all = (await run(dir, 'events', 'export')).out.split('\n').map((l) => JSON.parse(l))
    expect(all.map((e) => e.position)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(all[0]).toMatchObject({
      streamId: streamIds.job(JOB),
      version: 1,
      type: 'JobQueued',
      schemaVersion: 1,
    })
    const some = (
      await run(dir, 'events', 'export', '--stream', 'session-default', '--after', '7')
    ).out.split('\n')
    expect(some.map((l) => JSON.parse(l).type)).toEqual(['SessionStartRequested', 'SessionQrIssued'])
    expect((await run(dir, 'events', 'export', '--after', 'soon')).code).toBe(1)
  })

  it('migrate applies pending migrations once', async () => {
    const dir = tempDir()
    expect((await run(dir, 'migrate')).out).toMatch(
      /applied 0001_event_log\napplied 0002_projections\napplied 0003_users\napplied 0004_job_lookups\napplied 0005_retention\napplied 0006_waiting_index\napplied 0007_no_type_index\napplied 0008_listed_jobs\napplied 0009_status_by_session\napplied 0010_token_cutoff\ndatabase migrated to 10/,
    )
    expect((await run(dir, 'migrate')).out).toBe('database is up to date (migration 10)')
  })

  it('refuses a database that is not Kurir’s with a clear message', async () => {
    const dir = tempDir()
    const db = new Database(join(dir, 'kurir.db'))
    db.exec('CREATE TABLE invoices (id INTEGER)')
    db.close()
    const r = await run(dir, 'migrate')
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/holds tables that are not Kurir's/)
  })

  it('answers a bad option or a stray word with one line saying what, never a stack trace', async () => {
    const dir = await seeded()
    const cases: [string[], RegExp][] = [
      [['events', 'export', '--foo'], /Unknown option '--foo'/],
      [['events', 'export', '--after'], /--after/],
      [['events', 'export', '--after', '-1'], /--after/],
      [['events', 'export', '--after', ''], /--after takes a position/],
      [['events', 'export', '--after', '0x9'], /--after takes a position/],
      [['events', 'export', '--stream', ''], /--stream takes a stream id/],
      [['events', 'export', 'extra'], /extra/],
      [['replay', 'trace', 'session-default', '--foo'], /Unknown option '--foo'/],
      [['serve', '--port', '9'], /kurir serve takes no arguments/],
      [['migrate', '--bogus'], /kurir migrate takes no arguments/],
    ]
    for (const [argv, message] of cases) {
      const r = await run(dir, ...argv)
      expect(r.code, argv.join(' ')).toBe(1)
      expect(r.err, argv.join(' ')).toMatch(message)
      expect(r.err, argv.join(' ')).not.toMatch(/\n\s+at /)
    }
    const twoStreams = await run(dir, 'replay', 'trace', 'session-default', 'extra')
    expect(twoStreams.code).toBe(1)
    expect(twoStreams.err).toMatch(/usage: kurir replay/)
  })

  it('stops quietly when the reader of its output goes away (events export | head -1)', async () => {
    const dir = tempDir()
    const core = openTestCore(dir)
    // Enough to outlast the pipe: the export is still writing when its reader leaves.
    for (let i = 0; i < 20; i++) {
      await core.store.append(
        `queue-q${i}`,
        Array.from({ length: 2_000 }, () => ({
          type: 'QueuePaused',
          data: { at: '2026-01-05T08:00:00.000Z' },
        })),
        { expectedVersion: 'no_stream' },
      )
    }
    await core.close()
    const BIN = new URL('../../src/cli/kurir.mjs', import.meta.url).pathname
    const child = spawn(process.execPath, [BIN, 'events', 'export'], {
      env: { ...process.env, DATA_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let errors = ''
    child.stderr.on('data', (chunk: Buffer) => {
      errors += chunk.toString()
    })
    // Read one chunk, then close the pipe, as head does.
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()))
    child.stdout.destroy()
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
    expect(errors).not.toMatch(/EPIPE|Unhandled/)
    expect(code).toBe(0)
  })

  it('answers an unknown command with the usage and exit 1', async () => {
    const r = await run(tempDir(), 'launch')
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/unknown command 'launch'/)
    expect((await run(tempDir(), 'replay', 'trace')).code).toBe(1)
    expect((await run(tempDir(), 'replay', 'verify')).err).toMatch(/no database at/)
  })

  it("verify says so when the log grew under it, not only differences that are a writer's progress", async () => {
    const dir = tempDir()
    // Another process appends commands (events and projections in one transaction) without a pause.
    const writer = spawn(process.execPath, ['--import', 'tsx', WRITER, join(dir, 'kurir.db')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const exited = new Promise((r) => writer.once('exit', r))
    try {
      await new Promise<void>((resolve) => writer.stdout.on('data', () => resolve()))
      const verified = await run(dir, 'replay', 'verify')
      // Every comparison ran while the log moved: the differences are the writer's own, and said to be.
      if (verified.code === 1)
        expect(verified.out).toMatch(
          /^the log grew by \d+ events during the last comparison \(a gateway is writing\)/,
        )
      else expect(verified.out).toMatch(/^projections identical/)
    } finally {
      writer.kill('SIGKILL')
      await exited
    }
    // Once the writer is gone, the log and its projections agree.
    expect((await run(dir, 'replay', 'verify')).code).toBe(0)
  }, 60_000)
})
