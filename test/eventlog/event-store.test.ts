import { spawn } from 'node:child_process'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import type { Core } from '../../src/core/open-core.ts'
import type { NewEvent } from '../../src/eventlog/types.ts'
import { observer, openTestCore } from '../support/store.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const LOCK_HOLDER = new URL('../fixtures/lock-holder.ts', import.meta.url).pathname
let core: Core | null = null
afterEach(async () => {
  await core?.close()
  core = null
})
const open = () => {
  const dir = tempDir()
  core = openTestCore(dir)
  return { dir, core, store: core.store }
}
const ev = (type: string, data: Record<string, unknown> = {}): NewEvent => ({ type, data: { n: 1, ...data } })
const countIn = (dir: string, where = '1=1') => {
  const db = observer(dir)
  try {
    return (db.prepare(`SELECT count(*) FROM events WHERE ${where}`).pluck().get() as number) ?? 0
  } finally {
    db.close()
  }
}

describe('event store', () => {
  it('waits for the write lock another process holds, and appends after its commit', async () => {
    const { dir, store } = open()
    await store.append('job-before', [ev('A')], { expectedVersion: 'no_stream' })
    // The other process takes the lock and writes; the append comes while it holds the lock.
    const holder = spawn(process.execPath, ['--import', 'tsx', LOCK_HOLDER, join(dir, 'kurir.db'), '300'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const exited = new Promise((r) => holder.once('exit', r))
    await new Promise<void>((resolve) => holder.stdout.on('data', () => resolve()))
    const result = await store.append('job-during', [ev('B')], { expectedVersion: 'no_stream' })
    expect(result).toMatchObject({ ok: true, nextVersion: 1 })
    await exited
    expect(countIn(dir)).toBe(2)
  })

  it('pages one stream from any position: its events after it, in order, whatever else the log holds', async () => {
    const { store } = open()
    let run = 0
    await fc.assert(
      fc.asyncProperty(
        // Which of three streams each append goes to, and how many events it carries.
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 3 })), {
          minLength: 1,
          maxLength: 30,
        }),
        fc.integer({ min: 1, max: 5 }),
        async (appends, limit) => {
          run++
          const streams = [0, 1, 2].map((s) => `job-r${run}s${s}`)
          const first = store.lastPosition()
          for (const [s, n] of appends) {
            const streamId = streams[s] as string
            await store.append(
              streamId,
              Array.from({ length: n }, () => ev('E')),
              { expectedVersion: 'any' },
            )
          }
          const log = store.readAll(first, 1000)
          for (const streamId of streams) {
            for (let after = first; after <= store.lastPosition(); after++) {
              const expected = log
                .filter((e) => e.streamId === streamId && e.position > after)
                .slice(0, limit)
              const raw = store.readAllRaw(after, limit, { streamId })
              expect(raw.map((e) => e.position)).toEqual(expected.map((e) => e.position))
              expect(raw.map((e) => e.version)).toEqual(expected.map((e) => e.version))
            }
          }
        },
      ),
      { numRuns: 60 },
    )
  })

  it('appends with gapless versions and global positions, and reads them back', async () => {
    const { store } = open()
    const a = await store.append('job-a', [ev('A1'), ev('A2')], { expectedVersion: 'no_stream' })
    const b = await store.append('job-b', [ev('B1')], { expectedVersion: 0 })
    const a2 = await store.append('job-a', [ev('A3')], { expectedVersion: 2 })
    expect(a).toMatchObject({ ok: true, nextVersion: 2 })
    expect(b).toMatchObject({ ok: true, nextVersion: 1 })
    expect(a2).toMatchObject({ ok: true, nextVersion: 3 })
    const stream = store.readStream('job-a')
    expect(stream.map((e) => [e.version, e.type, e.streamType])).toEqual([
      [1, 'A1', 'job'],
      [2, 'A2', 'job'],
      [3, 'A3', 'job'],
    ])
    expect(store.readAll(0, 10).map((e) => e.position)).toEqual([1, 2, 3, 4])
    expect(store.readAll(2, 10).map((e) => e.type)).toEqual(['B1', 'A3'])
    expect(store.readAll(0, 10, { streamId: 'job-b' }).map((e) => e.type)).toEqual(['B1'])
    expect(store.streamVersion('job-a')).toBe(3)
    expect(store.lastPosition()).toBe(4)
    for (const e of stream) expect(e.eventId).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/)
  })

  it('returns a version conflict as data and writes nothing', async () => {
    const { store, dir } = open()
    await store.append('job-a', [ev('A1')], { expectedVersion: 'no_stream' })
    const stale = await store.append('job-a', [ev('A2')], { expectedVersion: 0 })
    expect(stale).toEqual({
      ok: false,
      reason: 'VersionConflict',
      streamId: 'job-a',
      expectedVersion: 0,
      actualVersion: 1,
    })
    const exists = await store.append('job-a', [ev('A2')], { expectedVersion: 'no_stream' })
    expect(exists).toMatchObject({ ok: false, reason: 'VersionConflict', actualVersion: 1 })
    expect(countIn(dir)).toBe(1)
    expect(await store.append('job-a', [ev('A2')], { expectedVersion: 'any' })).toMatchObject({
      ok: true,
      nextVersion: 2,
    })
  })

  it('refuses every UPDATE and DELETE of an event, and a version gap, in SQLite itself', async () => {
    const { store } = open()
    await store.append('job-a', [ev('A1')], { expectedVersion: 0 })
    const db = store.db
    expect(() => db.prepare("UPDATE events SET type = 'Forged'").run()).toThrow(/append-only: UPDATE refused/)
    expect(() => db.prepare('DELETE FROM events').run()).toThrow(/append-only: DELETE refused/)
    expect(() =>
      db
        .prepare(
          `INSERT INTO events (event_id, stream_id, stream_type, version, type, data, metadata, created_at)
           VALUES ('01JAAAAAAAAAAAAAAAAAAAAAAA', 'job-a', 'job', 3, 'Gap', '{}', '{}', 'x')`,
        )
        .run(),
    ).toThrow(/without a gap/)
    expect(() =>
      db
        .prepare(
          `INSERT INTO events (event_id, stream_id, stream_type, version, type, data, metadata, created_at)
           VALUES ('01JAAAAAAAAAAAAAAAAAAAAAAB', 'job-a', 'job', 2, 'Bad', '[1]', '{}', 'x')`,
        )
        .run(),
    ).toThrow(/CHECK constraint/)
    expect(store.readStream('job-a').map((e) => e.type)).toEqual(['A1'])
  })

  it('commits appends of the same tick in one transaction, answering each after the commit', async () => {
    const { store, dir } = open()
    const batches: number[] = []
    store.subscribe((events) => batches.push(events.length))
    const seenAtResolve: number[] = []
    const appends = Array.from({ length: 100 }, (_, i) =>
      store.append(`job-${i}`, [ev('E')], { expectedVersion: 0 }).then((r) => {
        seenAtResolve.push(countIn(dir))
        return r
      }),
    )
    // Nothing is durable before the batch commits.
    expect(countIn(dir)).toBe(0)
    const results = await Promise.all(appends)
    expect(results.every((r) => r.ok)).toBe(true)
    expect(batches).toEqual([100])
    // Every caller was answered after all 100 were visible to another connection.
    expect(Math.min(...seenAtResolve)).toBe(100)
  })

  it('fails only the conflicting append of a batch; the others commit', async () => {
    const { store, dir } = open()
    await store.append('job-x', [ev('X1')], { expectedVersion: 0 })
    const results = await Promise.all([
      store.append('job-a', [ev('A1')], { expectedVersion: 0 }),
      store.append('job-x', [ev('X2')], { expectedVersion: 0 }), // stale
      store.append('job-b', [ev('B1'), ev('B2')], { expectedVersion: 0 }),
      store.append('job-a', [ev('A2')], { expectedVersion: 0 }), // raced by the first append of the batch
      store.append('job-c', [ev('C1')], { expectedVersion: 0 }),
    ])
    expect(results.map((r) => (r.ok ? 'ok' : r.reason))).toEqual([
      'ok',
      'VersionConflict',
      'ok',
      'VersionConflict',
      'ok',
    ])
    expect(results[3]).toMatchObject({ actualVersion: 1 })
    expect(countIn(dir)).toBe(1 + 1 + 2 + 1)
    expect(countIn(dir, "stream_id = 'job-x'")).toBe(1)
  })

  it('fails only the invalid append of a batch, including one whose second event breaks a CHECK', async () => {
    const { store, dir } = open()
    const cyclic: Record<string, unknown> = {}
    cyclic['self'] = cyclic
    const results = await Promise.all([
      store.append('job-a', [ev('A1')], { expectedVersion: 0 }),
      store.append('job-b', [ev('B1'), ev('T'.repeat(101))], { expectedVersion: 0 }),
      store.append('job-c', [{ type: 'C1', data: cyclic }], { expectedVersion: 0 }),
      store.append('job-d', [{ type: '', data: {} }], { expectedVersion: 0 }),
      store.append('job-e', [ev('E1')], { expectedVersion: 0 }),
      store.append('job-f', [ev('F'.repeat(101))], { expectedVersion: 0 }), // a lone event breaking a CHECK
      store.append('job-g', [ev('G1')], { expectedVersion: 0 }),
    ])
    expect(results.map((r) => (r.ok ? 'ok' : r.reason))).toEqual([
      'ok',
      'InvalidEvent',
      'InvalidEvent',
      'InvalidEvent',
      'ok',
      'InvalidEvent',
      'ok',
    ])
    // The first event of job-b was rolled back with its append.
    expect(countIn(dir, "stream_id = 'job-b'")).toBe(0)
    expect(countIn(dir)).toBe(3)
    expect(store.streamVersion('job-g')).toBe(1)
  })

  it('rolls back only the append whose in-transaction projection throws', async () => {
    const { store, dir } = open()
    const boom = new Error('projection bug')
    const [a, b] = await Promise.allSettled([
      store.append('job-a', [ev('A1')], { expectedVersion: 0 }),
      store.append('job-b', [ev('B1')], {
        expectedVersion: 0,
        inTransaction: () => {
          throw boom
        },
      }),
    ])
    expect(a.status).toBe('fulfilled')
    expect(b).toEqual({ status: 'rejected', reason: boom })
    expect(countIn(dir)).toBe(1)
  })

  it('tells subscribers after the commit, in position order', async () => {
    const { store, dir } = open()
    const seen: { types: string[]; durable: number }[] = []
    const unsubscribe = store.subscribe((events) =>
      seen.push({ types: events.map((e) => e.type), durable: countIn(dir) }),
    )
    await Promise.all([
      store.append('job-a', [ev('A1')], { expectedVersion: 0 }),
      store.append('job-b', [ev('B1')], { expectedVersion: 0 }),
    ])
    unsubscribe()
    await store.append('job-c', [ev('C1')], { expectedVersion: 0 })
    expect(seen).toEqual([{ types: ['A1', 'B1'], durable: 2 }])
  })

  it('sets WAL and the durability level asked for', () => {
    const { store } = open()
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2) // FULL
    expect(store.db.pragma('busy_timeout', { simple: true })).toBeGreaterThan(0)
  })
})
