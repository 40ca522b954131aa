import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { verifyProjections } from '../../src/projections/verify.ts'
import { SEND_GRACE_MS } from '../../src/runtime/open-runtime.ts'
import { jsonOf, openTestApi } from '../support/api.ts'
import { runKurir } from '../support/cli.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

const open = async (options: Parameters<typeof openTestApi>[1] = {}, dir = tempDir()) => {
  const api = await openTestApi(dir, options)
  closers.push(api.close)
  const { token } = await api.login()
  const auth = { Authorization: `Bearer ${token}` }
  const post = (path: string, body?: unknown, headers: Record<string, string> = {}) =>
    api.app.request(path, {
      method: 'POST',
      headers: { ...auth, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  const get = (path: string) => api.app.request(path, { headers: auth })
  const send = async (body: Record<string, unknown>, headers: Record<string, string> = {}) => {
    const res = await post('/api/whatsapp/send-message', body, headers)
    return { res, body: await jsonOf(res) }
  }
  const job = async (jobId: string) => {
    await api.settle()
    return jsonOf(await get(`/api/whatsapp/jobs/${jobId}`))
  }
  const sent = (): { chatId: string; body: string; messageId: string }[] => {
    const file = join(dir, 'simulator', 'sent.ndjson')
    return existsSync(file)
      ? readFileSync(file, 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : []
  }
  const ready = async () => {
    await api.sessions.create('default')
    await api.sessions.start('default')
    await api.settle()
    api.simulator.link('default')
    await api.settle()
    expect(api.sessions.get('default').state()).toBe('ready')
  }
  /** No pacing: sends go as fast as the concurrency allows. */
  const unpaced = async () => {
    const res = await post('/api/whatsapp/queue/config', {
      maxPerMinute: 0,
      sameChatGapMs: 0,
      paceSpreadMs: 0,
    })
    expect(res.status).toBe(200)
  }
  /** Moves the clock on, lets what falls due happen, and answers the bodies sent so far. */
  const after = async (ms: number) => {
    api.clock.advance(ms)
    await api.settle()
    return sent().map((m) => m.body)
  }
  /** The same data folder in a new process, its clock where this one's stands, sessions brought back. */
  const restarted = async () => {
    await api.close()
    closers.splice(closers.indexOf(api.close), 1)
    const next = await open({ clockStartMs: api.clock.now() }, dir)
    await next.api.sessions.boot()
    await next.api.settle()
    return next
  }
  return { api, dir, post, get, send, job, sent, ready, unpaced, after, restarted }
}

describe('send-message through the simulator', () => {
  it('queues durably (202), sends once the session is ready, and records the message id', async () => {
    const t = await open()
    await t.ready()
    const { res, body } = await t.send({ number: '0812-3456-7890', message: 'Invoice 42 is due' })
    expect(res.status).toBe(202)
    expect(body).toMatchObject({ success: true, queued: true, status: 'waiting', duplicate: false })
    const done = await t.job(body.jobId)
    expect(done).toMatchObject({ status: 'completed', attempts: 1, chatId: '6281234567890@c.us' })
    expect(done.messageId).toMatch(/^true_6281234567890@c\.us_/)
    expect(t.sent()).toEqual([
      expect.objectContaining({ chatId: '6281234567890@c.us', body: 'Invoice 42 is due' }),
    ])
  })

  it('normalises +62, 62 and 0 numbers to one chat id and passes group ids as they are', async () => {
    const t = await open()
    for (const number of ['+62 812 3456 7890', '6281234567890', '0812 3456 7890']) {
      const { body } = await t.send({ number, message: 'hi' })
      expect((await t.job(body.jobId)).chatId).toBe('6281234567890@c.us')
    }
    const { body } = await t.send({ chatId: '120363012345678901@g.us', message: 'hi group' })
    expect((await t.job(body.jobId)).chatId).toBe('120363012345678901@g.us')
    // A chat id in the number field is taken as a chat id.
    const asNumber = await t.send({ number: '120363012345678902@g.us', message: 'hi again' })
    expect((await t.job(asNumber.body.jobId)).chatId).toBe('120363012345678902@g.us')
    const contact = await t.send({ number: '6281234567890@c.us', message: 'hi' })
    expect((await t.job(contact.body.jobId)).chatId).toBe('6281234567890@c.us')
  })

  it('refuses digits that name a number at home and another abroad, rather than guess', async () => {
    const t = await open()
    // 812-3456-7890 without its 0 is +62 812… here, and +81 2345… in Japan: both are valid numbers.
    const { res, body } = await t.send({ number: '812-3456-7890', message: 'hi' })
    expect(res.status).toBe(400)
    expect(body.error).toMatchObject({
      code: 'INVALID_NUMBER',
      message: expect.stringContaining('write it with + and its country code, or with its leading 0'),
      details: { readings: ['81234567890', '6281234567890'] },
    })
    expect((await jsonOf(await t.get('/api/whatsapp/queue/stats'))).counts.waiting).toBe(0)
    // Digits that are a number only at home, or only abroad, are that number.
    for (const [number, chatId] of [
      ['85712345678', '6285712345678@c.us'],
      ['447911123456', '447911123456@c.us'],
      ['+81 2345 67890', '81234567890@c.us'],
    ]) {
      const sent = await t.send({ number, message: 'hi' })
      expect((await t.job(sent.body.jobId)).chatId).toBe(chatId)
    }
  })

  it('sends to a group through the simulator', async () => {
    const t = await open()
    await t.unpaced()
    await t.ready()
    const { body } = await t.send({ chatId: '120363012345678901@g.us', message: 'hi group' })
    expect(await t.job(body.jobId)).toMatchObject({ status: 'completed', attempts: 1, lastError: null })
    expect(t.sent()).toEqual([
      expect.objectContaining({ chatId: '120363012345678901@g.us', body: 'hi group' }),
    ])
  })

  it('answers 400 with the reason for a bad number or message, and queues nothing', async () => {
    const t = await open()
    const bad: [Record<string, unknown>, string][] = [
      [{ number: '12', message: 'x' }, 'INVALID_NUMBER'],
      [{ number: '0000000000', message: 'x' }, 'INVALID_NUMBER'],
      [{ chatId: 'someone', message: 'x' }, 'INVALID_NUMBER'],
      [{ number: '081234567890', message: '   ' }, 'VALIDATION_ERROR'],
      [{ number: '081234567890', message: 'x'.repeat(65_537) }, 'VALIDATION_ERROR'],
      [{ number: '081234567890' }, 'VALIDATION_ERROR'],
      [{ message: 'no one' }, 'VALIDATION_ERROR'],
      [{ number: '081234567890', chatId: '6281234567890@c.us', message: 'both' }, 'VALIDATION_ERROR'],
      [{ number: '081234567890', message: 'x', priority: 'urgent' }, 'VALIDATION_ERROR'],
      [{ number: '081234567890', message: 'x', sendAt: 'tomorrow' }, 'VALIDATION_ERROR'],
    ]
    for (const [body, code] of bad) {
      const { res, body: answer } = await t.send(body)
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400)
      expect(answer.error.code).toBe(code)
    }
    expect(t.api.core.db.prepare('SELECT count(*) FROM jobs').pluck().get()).toBe(0)
  })

  it('lets jobs wait without spending attempts while the session is not ready', async () => {
    const t = await open()
    const { body } = await t.send({ number: '081234567890', message: 'early' })
    t.api.clock.advance(600_000)
    expect(await t.job(body.jobId)).toMatchObject({ status: 'waiting', attempts: 0 })
    await t.ready()
    expect(await t.job(body.jobId)).toMatchObject({ status: 'completed', attempts: 1 })
  })

  it('spends attempts only on the sends under way when the connection drops, not on the jobs behind them', async () => {
    const t = await open({ sendLatencyMs: 2_000 })
    await t.ready()
    await t.unpaced()
    await t.post('/api/whatsapp/queue/config', { concurrency: 5 })
    await t.post('/api/whatsapp/queue/pause')
    const ids: string[] = []
    for (let i = 0; i < 15; i++) {
      ids.push((await t.send({ number: `0812345600${10 + i}`, message: `m${i}` })).body.jobId)
    }
    await t.post('/api/whatsapp/queue/resume')
    await t.api.settle()
    expect(t.api.dispatchers.of('default').inFlight()).toBe(5)

    // The phone loses its network with five sends under way.
    t.api.simulator.disconnect('default')
    await t.api.settle()
    const jobs = await Promise.all(ids.map((id) => t.job(id)))
    const tried = jobs.filter((j) => j.attempts > 0)
    expect(tried).toHaveLength(5)
    for (const j of tried)
      expect(j).toMatchObject({ status: 'delayed', lastError: { code: 'SESSION_CLOSED' } })
    const behind = jobs.filter((j) => j.status === 'waiting' && j.attempts === 0)
    expect(behind).toHaveLength(10)
    // Not even taken: the dead engine was not offered them.
    for (const j of behind) {
      const events = await jsonOf(await t.get(`/api/events?stream=job-${j.id}`))
      expect(events.map((e: { type: string }) => e.type)).toEqual(['JobQueued'])
    }
    expect(t.api.dispatchers.of('default').inFlight()).toBe(0)
  })

  it('gives an attempt back when the session drops between recording its start and calling the engine', async () => {
    const t = await open()
    await t.ready()
    await t.unpaced()
    const { body } = await t.send({ number: '081234567890', message: 'just missed' })
    // The dispatcher has taken the job; its start is not committed yet when the connection drops.
    expect(t.api.dispatchers.of('default').inFlight()).toBe(1)
    t.api.simulator.disconnect('default')
    expect(await t.job(body.jobId)).toMatchObject({ status: 'waiting', attempts: 0, lastError: null })
    expect(
      (await jsonOf(await t.get(`/api/events?stream=job-${body.jobId}`))).map(
        (e: { type: string }) => e.type,
      ),
    ).toEqual(['JobQueued', 'JobAttemptStarted', 'JobAttemptWithdrawn'])
    expect(t.sent()).toEqual([])

    // Linked again, it is sent on its first attempt.
    t.api.clock.advance(60_000)
    await t.api.settle()
    if (t.api.sessions.get('default').state() !== 'ready') {
      t.api.simulator.link('default')
      await t.api.settle()
    }
    expect(await t.job(body.jobId)).toMatchObject({ status: 'completed', attempts: 1 })
  })

  /** A ready session with one message under way, WhatsApp taking `sendLatencyMs` to answer. */
  const oneUnderWay = async (sendLatencyMs: number, message: string) => {
    const t = await open({ sendLatencyMs })
    await t.ready()
    await t.unpaced()
    const { body } = await t.send({ number: '081234567890', message })
    await t.api.settle()
    expect(t.api.dispatchers.of('default').inFlight()).toBe(1)
    return { t, body }
  }

  it('records a sent message once the database takes it, and does not send it again meanwhile', async () => {
    const { t, body } = await oneUnderWay(1_000, 'sent while locked')
    // Another process (a `kurir` command) holds the write lock past the busy timeout as WhatsApp answers.
    t.api.core.db.pragma('busy_timeout = 20')
    const other = new Database(join(t.dir, 'kurir.db'))
    other.exec('BEGIN IMMEDIATE')
    t.api.clock.advance(1_000)
    await t.api.settle()
    expect(t.sent()).toHaveLength(1)
    expect(await jsonOf(await t.get(`/api/whatsapp/jobs/${body.jobId}`))).toMatchObject({ status: 'active' })
    other.exec('ROLLBACK')
    other.close()
    t.api.clock.advance(10_000)
    expect(await t.job(body.jobId)).toMatchObject({ status: 'completed', attempts: 1, lastError: null })
    expect(t.sent()).toHaveLength(1)
  })

  it('lets a send under way finish when it closes, and cuts it off, retryably, after the grace', async () => {
    const { t, body } = await oneUnderWay(60_000, 'slow')
    let closed = false
    const closing = t.api.runtime.close().then(() => {
      closed = true
    })
    await t.api.settle()
    t.api.clock.advance(SEND_GRACE_MS - 1)
    await t.api.settle()
    expect(closed).toBe(false)
    t.api.clock.advance(1)
    await closing
    expect(await t.job(body.jobId)).toMatchObject({
      status: 'delayed',
      attempts: 1,
      lastError: { code: 'SESSION_CLOSED', retryable: true },
    })
    expect(t.sent()).toEqual([])
  })

  it('fails a number that is not on WhatsApp (…0000) after one attempt, without retrying', async () => {
    const t = await open()
    await t.ready()
    const { body } = await t.send({ number: '081234560000', message: 'x' })
    const failed = await t.job(body.jobId)
    expect(failed).toMatchObject({
      status: 'failed',
      attempts: 1,
      lastError: { code: 'NOT_REGISTERED', retryable: false },
    })
    t.api.clock.advance(600_000)
    expect((await t.job(body.jobId)).attempts).toBe(1)
    expect(t.sent()).toEqual([])
  })

  it('retries a timing-out number (…0001) on the backoff schedule, then fails at maxAttempts', async () => {
    const t = await open()
    await t.ready()
    await t.unpaced()
    const { body } = await t.send({ number: '081234560001', message: 'x' })
    const waits: number[] = []
    for (let attempt = 1; attempt < 5; attempt++) {
      const j = await t.job(body.jobId)
      expect(j).toMatchObject({
        status: 'delayed',
        attempts: attempt,
        lastError: { code: 'NETWORK_TIMEOUT', retryable: true },
      })
      const wait = Date.parse(j.nextAttemptAt) - t.api.clock.now()
      waits.push(wait)
      t.api.clock.advance(wait)
    }
    // Jitter 0.5 gives the base of each step: 2 s, 4 s, 8 s, 16 s.
    expect(waits).toEqual([2_000, 4_000, 8_000, 16_000])
    expect(await t.job(body.jobId)).toMatchObject({ status: 'failed', attempts: 5, nextAttemptAt: null })
  })

  it('sends a number that times out once (…0002) on the second attempt', async () => {
    const t = await open()
    await t.ready()
    await t.unpaced()
    const { body } = await t.send({ number: '081234560002', message: 'x' })
    const j = await t.job(body.jobId)
    expect(j).toMatchObject({ status: 'delayed', attempts: 1 })
    t.api.clock.advance(Date.parse(j.nextAttemptAt) - t.api.clock.now())
    expect(await t.job(body.jobId)).toMatchObject({ status: 'completed', attempts: 2 })
    expect(t.sent()).toHaveLength(1)

    // Each message to that number times out on its own first attempt, not only the first to the chat.
    const again = await t.send({ number: '081234560002', message: 'y' })
    const second = await t.job(again.body.jobId)
    expect(second).toMatchObject({ status: 'delayed', attempts: 1, lastError: { code: 'NETWORK_TIMEOUT' } })
    t.api.clock.advance(Date.parse(second.nextAttemptAt) - t.api.clock.now())
    expect(await t.job(again.body.jobId)).toMatchObject({ status: 'completed', attempts: 2 })
    expect(t.sent()).toHaveLength(2)
  })

  it('refuses a message or key with half a surrogate pair, which could not be stored as it came', async () => {
    const t = await open()
    // JSON can write a lone surrogate; UTF-8, and so the database and WhatsApp, cannot.
    for (const body of [
      { number: '081234567890', message: 'cut emoji \ud83d' },
      { number: '081234567890', message: '\ude00 tail' },
      { number: '081234567890', message: 'x', idempotencyKey: 'k-\ud83d' },
    ]) {
      const { res, body: answer } = await t.send(body)
      expect(res.status).toBe(400)
      expect(answer.error).toMatchObject({
        code: 'VALIDATION_ERROR',
        message: expect.stringContaining('surrogate pair'),
      })
    }
    expect(await jsonOf(await t.get('/api/whatsapp/queue/stats'))).toMatchObject({ counts: { waiting: 0 } })
    // A whole pair is an emoji like any other, and a repeat of it is the same request.
    const once = await t.send({ number: '081234567890', message: 'ok \ud83d\ude00', idempotencyKey: 'e-1' })
    const again = await t.send({ number: '081234567890', message: 'ok \ud83d\ude00', idempotencyKey: 'e-1' })
    expect(once.res.status).toBe(202)
    expect(again.body).toMatchObject({ jobId: once.body.jobId, duplicate: true })
  })

  it('sends a …0002 message that failed on its one attempt once an operator retries it', async () => {
    const t = await open()
    await t.ready()
    await t.unpaced()
    await t.post('/api/whatsapp/queue/config', { maxAttempts: 1 })
    const { body } = await t.send({ number: '081234560002', message: 'x' })
    expect(await t.job(body.jobId)).toMatchObject({
      status: 'failed',
      lastError: { code: 'NETWORK_TIMEOUT' },
    })
    expect((await t.post(`/api/whatsapp/jobs/${body.jobId}/retry`)).status).toBe(200)
    expect(await t.job(body.jobId)).toMatchObject({ status: 'completed', attempts: 1 })
    expect(t.sent()).toHaveLength(1)
  })

  it('answers a repeated idempotency key with the same job, and 409 for another request', async () => {
    const t = await open()
    const first = await t.send({ number: '081234567890', message: 'once', idempotencyKey: 'order-7' })
    const again = await t.send({ number: '+6281234567890', message: 'once', idempotencyKey: 'order-7' })
    expect(again.res.status).toBe(202)
    expect(again.body).toMatchObject({ jobId: first.body.jobId, duplicate: true })
    const viaHeader = await t.send(
      { number: '081234567890', message: 'once' },
      { 'Idempotency-Key': 'order-7' },
    )
    expect(viaHeader.body.jobId).toBe(first.body.jobId)
    const other = await t.send({ number: '081234567890', message: 'twice', idempotencyKey: 'order-7' })
    expect(other.res.status).toBe(409)
    // Any other part of the request is another request too.
    const urgent = await t.send({
      number: '081234567890',
      message: 'once',
      priority: 'high',
      idempotencyKey: 'order-7',
    })
    expect(urgent.res.status).toBe(409)
    expect(urgent.body.error.details.differs).toEqual(['priority'])
    const later = { number: '081234567890', message: 'once', sendAt: '2031-01-01T00:00:00Z' }
    const scheduled = await t.send({ ...later, idempotencyKey: 'order-7' })
    expect(scheduled.body.error.details.differs).toEqual(['sendAt'])
    // The same instant written another way is the same request.
    const s1 = await t.send({ ...later, idempotencyKey: 'order-8' })
    const s2 = await t.send({ ...later, sendAt: '2031-01-01T07:00:00+07:00', idempotencyKey: 'order-8' })
    expect(s2.body).toMatchObject({ jobId: s1.body.jobId, duplicate: true })
    // Two keys for one request: which one was meant is not guessed.
    const twoKeys = await t.send(
      { number: '081234567890', message: 'once', idempotencyKey: 'order-7' },
      { 'Idempotency-Key': 'order-9' },
    )
    expect(twoKeys.res.status).toBe(400)
    // A header's bytes arrive as Latin-1: a key that is not ASCII there would be stored garbled.
    const accented = await t.send({ number: '081234567890', message: 'once' }, { 'Idempotency-Key': 'clé-1' })
    expect(accented.res.status).toBe(400)
    expect(accented.body.error.details.issues[0].message).toMatch(/printable ASCII in the header/)
    // HTTP trims a header's spaces; a body key keeps them, so it would name another key than the header.
    const spaced = await t.send({ number: '081234567890', message: 'once', idempotencyKey: ' order-7 ' })
    expect(spaced.res.status).toBe(400)
    const inBody = await t.send({ number: '081234567890', message: 'once', idempotencyKey: 'clé-1' })
    expect(inBody.res.status).toBe(202)
    // At once, from two callers: still one job.
    const [a, b] = await Promise.all([
      t.send({ number: '081234567891', message: 'race', idempotencyKey: 'k2' }),
      t.send({ number: '081234567891', message: 'race', idempotencyKey: 'k2' }),
    ])
    expect(a.body.jobId).toBe(b.body.jobId)
    expect(t.api.core.db.prepare('SELECT count(*) FROM jobs').pluck().get()).toBe(4)
  })

  it('refuses a sendAt outside the years 1970 to 9999, offsets counted, with a 400 and nothing queued', async () => {
    const t = await open()
    for (const sendAt of ['9999-12-31T23:00:00-05:00', '0000-01-01T00:00:00+01:00', '1969-12-31T23:59:59Z']) {
      const { res, body } = await t.send({ number: '081234567890', message: 'x', sendAt })
      expect(res.status).toBe(400)
      expect(body.error).toMatchObject({
        code: 'VALIDATION_ERROR',
        message: 'sendAt: a time from 1970 to 9999 (UTC)',
      })
    }
    const edge = await t.send({ number: '081234567890', message: 'x', sendAt: '9999-12-31T23:59:59.999Z' })
    expect(edge.res.status).toBe(202)
    expect(await t.job(edge.body.jobId)).toMatchObject({
      status: 'delayed',
      nextAttemptAt: '9999-12-31T23:59:59.999Z',
    })
    const stats = await jsonOf(await t.get('/api/whatsapp/queue/stats'))
    expect(stats.counts).toMatchObject({ waiting: 0, delayed: 1 })
  })

  it('holds a scheduled send until its time', async () => {
    const t = await open()
    await t.ready()
    const sendAt = new Date(t.api.clock.now() + 600_000).toISOString()
    const { body } = await t.send({ number: '081234567890', message: 'later', sendAt })
    expect(body.status).toBe('delayed')
    t.api.clock.advance(599_000)
    expect((await t.job(body.jobId)).status).toBe('delayed')
    t.api.clock.advance(1_000)
    expect((await t.job(body.jobId)).status).toBe('completed')
  })
})

describe('the queue', () => {
  it('honours priorities when a paused queue resumes: high, then normal, then low, oldest first', async () => {
    const t = await open()
    await t.ready()
    await t.unpaced()
    expect((await t.post('/api/whatsapp/queue/config', { concurrency: 1 })).status).toBe(200)
    expect((await t.post('/api/whatsapp/queue/pause')).status).toBe(200)
    for (const [priority, n] of [
      ['low', 1],
      ['normal', 1],
      ['high', 1],
      ['low', 2],
      ['high', 2],
      ['normal', 2],
    ]) {
      await t.send({ number: '081234567890', message: `${priority} ${n}`, priority })
      t.api.clock.advance(1)
    }
    await t.api.settle()
    expect(t.sent()).toEqual([])
    const resumed = await jsonOf(await t.post('/api/whatsapp/queue/resume'))
    expect(resumed.paused).toBe(false)
    await t.api.settle()
    expect(t.sent().map((s) => s.body)).toEqual([
      'high 1',
      'high 2',
      'normal 1',
      'normal 2',
      'low 1',
      'low 2',
    ])
  })

  it("commits one message's outcome together with the next message's start", async () => {
    const t = await open()
    await t.ready()
    await t.unpaced()
    await t.post('/api/whatsapp/queue/config', { concurrency: 1 })
    await t.post('/api/whatsapp/queue/pause')
    const first = (await t.send({ number: '081234567890', message: 'first' })).body.jobId
    t.api.clock.advance(1)
    const second = (await t.send({ number: '081234567891', message: 'second' })).body.jobId
    const commits: string[][] = []
    t.api.core.store.subscribe((events) => commits.push(events.map((e) => `${e.streamId} ${e.type}`)))
    await t.post('/api/whatsapp/queue/resume')
    await t.api.settle()
    expect(t.sent().map((s) => s.body)).toEqual(['first', 'second'])
    // The slot is free once the engine has answered; it does not wait for the outcome's own commit.
    expect(commits).toContainEqual(
      expect.arrayContaining([`job-${first} JobSent`, `job-${second} JobAttemptStarted`]),
    )
  })

  it('never has more sends in flight than its concurrency, changed live', async () => {
    const t = await open({ sendLatencyMs: 1_000 })
    await t.ready()
    for (let i = 0; i < 12; i++) await t.send({ number: `08123456789${i % 10}`, message: `m${i}` })
    await t.api.settle()
    const dispatcher = t.api.dispatchers.of('default')
    expect(dispatcher.inFlight()).toBe(3)
    await t.post('/api/whatsapp/queue/config', { concurrency: 5 })
    await t.api.settle()
    expect(dispatcher.inFlight()).toBe(5)
    let most = 0
    while (t.sent().length < 12) {
      t.api.clock.advance(1_000)
      await t.api.settle()
      most = Math.max(most, dispatcher.inFlight())
    }
    expect(most).toBeLessThanOrEqual(5)
  })

  it('clears waiting and delayed jobs, keeps the others, and says how many it cancelled', async () => {
    const t = await open()
    await t.post('/api/whatsapp/queue/pause')
    const ids = []
    for (let i = 0; i < 3; i++)
      ids.push((await t.send({ number: '081234567890', message: `m${i}` })).body.jobId)
    const later = await t.send({ number: '081234567890', message: 'later', sendAt: '2030-01-01T00:00:00Z' })
    const cleared = await jsonOf(await t.post('/api/whatsapp/queue/clear'))
    expect(cleared.counts).toMatchObject({ waiting: 0, delayed: 0, cancelled: 4 })
    for (const id of [...ids, later.body.jobId]) expect((await t.job(id)).status).toBe('cancelled')
    const log = t.api.core.store.readStream('queue-default').map((e) => e.type)
    expect(log.at(-1)).toBe('QueueCleared')
  })

  it('answers concurrent pauses, resumes and clears with 200, as it answers them one at a time', async () => {
    const t = await open()
    const all = (path: string, n: number) =>
      Promise.all(Array.from({ length: n }, async () => (await t.post(path)).status))
    expect(await all('/api/whatsapp/queue/pause', 10)).toEqual(Array(10).fill(200))
    for (let i = 0; i < 20; i++) await t.send({ number: '081234567890', message: `m${i}` })
    expect(await all('/api/whatsapp/queue/clear', 8)).toEqual(Array(8).fill(200))
    expect(await all('/api/whatsapp/queue/resume', 10)).toEqual(Array(10).fill(200))
    const log = t.api.core.store.readStream('queue-default').map((e) => e.type)
    // One pause and one resume: the others found nothing to change.
    expect(log.filter((type) => type === 'QueuePaused')).toHaveLength(1)
    expect(log.filter((type) => type === 'QueueResumed')).toHaveLength(1)
    const cleared = t.api.core.store
      .readStream('queue-default')
      .filter((e) => e.type === 'QueueCleared')
      .map((e) => e.data['cancelled'])
    expect(cleared.reduce((a, b) => (a as number) + (b as number), 0)).toBe(20)
  })

  it('retries a failed job and cancels a waiting one on request; 409 where the state does not allow it', async () => {
    const t = await open()
    await t.ready()
    await t.unpaced()
    const failed = (await t.send({ number: '081234560000', message: 'x' })).body.jobId
    expect((await t.job(failed)).status).toBe('failed')
    const retry = await t.post(`/api/whatsapp/jobs/${failed}/retry`)
    expect(retry.status).toBe(200)
    expect((await t.job(failed)).status).toBe('failed')
    await t.post('/api/whatsapp/queue/pause')
    const waiting = (await t.send({ number: '081234567890', message: 'y' })).body.jobId
    expect((await t.post(`/api/whatsapp/jobs/${waiting}/cancel`)).status).toBe(200)
    const again = await t.post(`/api/whatsapp/jobs/${waiting}/cancel`)
    expect(again.status).toBe(409)
    expect((await t.get('/api/whatsapp/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV')).status).toBe(404)
    expect((await t.get('/api/whatsapp/jobs/not-a-job')).status).toBe(400)
  })

  it('lists jobs newest first with a cursor, filters by status, and shows the retry queue and stats', async () => {
    const t = await open()
    await t.ready()
    await t.unpaced()
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      ids.push((await t.send({ number: '081234567890', message: `m${i}` })).body.jobId)
      t.api.clock.advance(10)
    }
    const slow = await t.send({ number: '081234560001', message: 'slow' })
    await t.api.settle()
    const first = await jsonOf(await t.get('/api/whatsapp/jobs?limit=4'))
    expect(first.jobs).toHaveLength(4)
    const second = await jsonOf(await t.get(`/api/whatsapp/jobs?limit=4&cursor=${first.nextCursor}`))
    expect(second.nextCursor).toBeNull()
    expect([...first.jobs, ...second.jobs].map((j: { id: string }) => j.id).slice(1)).toEqual(
      [...ids].reverse(),
    )
    const completed = await jsonOf(await t.get('/api/whatsapp/jobs?status=completed'))
    expect(completed.jobs).toHaveLength(5)
    // A job scheduled for later is delayed, but not for a retry.
    await t.send({ number: '081234567890', message: 'later', sendAt: '2031-01-01T00:00:00Z' })
    const retryQueue = await jsonOf(await t.get('/api/whatsapp/retry-queue'))
    expect(retryQueue.delayed.map((j: { id: string }) => j.id)).toEqual([slow.body.jobId])
    expect(retryQueue.delayed[0]).toMatchObject({ attempts: 1, lastError: { code: 'NETWORK_TIMEOUT' } })
    expect(retryQueue.truncated).toEqual({ delayed: false, failed: false })
    const stats = await jsonOf(await t.get('/api/whatsapp/queue/stats'))
    expect(stats).toMatchObject({ counts: { completed: 5, delayed: 2 }, successRate: 1, sentLastMinute: 5 })
    expect((await t.get('/api/whatsapp/jobs?cursor=bogus')).status).toBe(400)
    // Cursors only this API wrote: a date Date.parse would take, or an id no job can have, is a 400.
    for (const forged of ['2026|y', 'Mon, 1 Jan 2026 00:00:00 GMT|Z', `2031-01-01|${'0'.repeat(26)}`]) {
      const res = await t.get(`/api/whatsapp/jobs?cursor=${Buffer.from(forged).toString('base64url')}`)
      expect(res.status).toBe(400)
      expect((await jsonOf(res)).error).toMatchObject({ code: 'VALIDATION_ERROR' })
    }
  })

  it('says when the retry queue shows only the latest of a list, and takes a limit', async () => {
    const t = await open()
    await t.ready()
    await t.unpaced()
    const failed: string[] = []
    for (let i = 0; i < 4; i++) {
      failed.push((await t.send({ number: `08123456${i}0000`, message: `nobody ${i}` })).body.jobId)
      t.api.clock.advance(1_000)
    }
    await t.api.settle()
    const all = await jsonOf(await t.get('/api/whatsapp/retry-queue'))
    expect(all.failed.map((j: { id: string }) => j.id)).toEqual([...failed].reverse())
    expect(all.truncated).toEqual({ delayed: false, failed: false })
    const latest = await jsonOf(await t.get('/api/whatsapp/retry-queue?limit=3'))
    expect(latest.failed.map((j: { id: string }) => j.id)).toEqual([...failed].reverse().slice(0, 3))
    expect(latest.truncated).toEqual({ delayed: false, failed: true })
    expect((await jsonOf(await t.get('/api/whatsapp/retry-queue?limit=4'))).truncated.failed).toBe(false)
    for (const bad of ['0', '501', 'x']) {
      expect((await t.get(`/api/whatsapp/retry-queue?limit=${bad}`)).status).toBe(400)
    }
  })

  it('starts at most maxPerMinute sends in any minute, spread at random', async () => {
    const t = await open()
    await t.ready()
    await t.post('/api/whatsapp/queue/config', { maxPerMinute: 2, sameChatGapMs: 0, paceSpreadMs: 1_000 })
    for (let i = 0; i < 5; i++) await t.send({ number: `08123456780${i}`, message: `m${i}` })
    await t.api.settle()
    expect(t.sent()).toHaveLength(2)
    // The third may start a minute after the first, plus up to the spread (random 0.5 here: 500 ms).
    t.api.clock.advance(60_499)
    await t.api.settle()
    expect(t.sent()).toHaveLength(2)
    t.api.clock.advance(1)
    await t.api.settle()
    expect(t.sent()).toHaveLength(4)
  })

  it('keeps two messages to one chat sameChatGapMs apart, letting other chats go in between', async () => {
    const t = await open()
    await t.ready()
    await t.post('/api/whatsapp/queue/config', { maxPerMinute: 0, sameChatGapMs: 5_000, paceSpreadMs: 0 })
    await t.send({ number: '081234567890', message: 'a1', priority: 'high' })
    await t.send({ number: '081234567890', message: 'a2', priority: 'high' })
    await t.send({ number: '081234567891', message: 'b1', priority: 'low' })
    expect(await t.after(0)).toEqual(['a1', 'b1'])
    expect(await t.after(4_999)).toHaveLength(2)
    expect(await t.after(1)).toEqual(['a1', 'b1', 'a2'])
  })

  it('remembers the last minute of sends across a restart: no burst past maxPerMinute', async () => {
    const t = await open()
    await t.ready()
    await t.post('/api/whatsapp/queue/config', { maxPerMinute: 2, sameChatGapMs: 0, paceSpreadMs: 0 })
    for (let i = 0; i < 4; i++) await t.send({ number: `08123456780${i}`, message: `m${i}` })
    await t.api.settle()
    expect(await t.after(20_000)).toEqual(['m0', 'm1'])
    const again = await t.restarted()
    expect(again.api.sessions.get('default').state()).toBe('ready')
    expect(again.sent()).toHaveLength(2)
    expect(await again.after(39_999)).toHaveLength(2)
    expect(await again.after(1)).toEqual(['m0', 'm1', 'm2', 'm3'])
  })

  it('remembers when a chat was last sent to across a restart: its gap holds', async () => {
    const t = await open()
    await t.ready()
    await t.post('/api/whatsapp/queue/config', { maxPerMinute: 0, sameChatGapMs: 90_000, paceSpreadMs: 0 })
    await t.send({ number: '081234567890', message: 'a1' })
    expect(await t.after(70_000)).toEqual(['a1'])
    const again = await t.restarted()
    await again.send({ number: '081234567890', message: 'a2' })
    await again.send({ number: '081234567891', message: 'b1' })
    expect(await again.after(0)).toEqual(['a1', 'b1'])
    expect(await again.after(19_999)).toHaveLength(2)
    expect(await again.after(1)).toEqual(['a1', 'b1', 'a2'])
  })

  it('looks again sooner when a setting shortens the wait it armed', async () => {
    const t = await open()
    await t.ready()
    await t.post('/api/whatsapp/queue/config', {
      maxPerMinute: 0,
      sameChatGapMs: 0,
      paceSpreadMs: 0,
      sendIntervalMs: 600_000,
    })
    await t.send({ number: '081234567890', message: 'm1' })
    await t.send({ number: '081234567891', message: 'm2' })
    await t.api.settle()
    expect(t.sent()).toHaveLength(1)
    await t.post('/api/whatsapp/queue/config', { sendIntervalMs: 10_000 })
    expect(await t.after(9_999)).toHaveLength(1)
    expect(await t.after(1)).toEqual(['m1', 'm2'])
  })

  it('sends to other chats while many messages to one chat wait out its gap', async () => {
    const t = await open()
    await t.ready()
    await t.post('/api/whatsapp/queue/config', { maxPerMinute: 0, sameChatGapMs: 500, paceSpreadMs: 0 })
    await t.post('/api/whatsapp/queue/pause')
    for (let i = 0; i < 150; i++) await t.send({ number: '081234567890', message: `a${i}` })
    await t.send({ number: '081234567891', message: 'b' })
    await t.post('/api/whatsapp/queue/resume')
    await t.api.settle()
    expect(t.sent().map((m) => m.body)).toEqual(['a0', 'b'])
    t.api.clock.advance(500)
    await t.api.settle()
    expect(t.sent().map((m) => m.body)).toEqual(['a0', 'b', 'a1'])
  })

  it('paces by default: 30 a minute, 3 s between two messages to one chat', async () => {
    const t = await open()
    const queue = await jsonOf(await t.get('/api/whatsapp/queue/stats'))
    expect(queue.counts).toBeDefined()
    const defaults = await jsonOf(await t.get('/api/whatsapp/queue/config'))
    expect(defaults).toMatchObject({ maxPerMinute: 30, sameChatGapMs: 3_000, paceSpreadMs: 1_000 })
    // A change answers the whole config, the change applied.
    const changed = await jsonOf(await t.post('/api/whatsapp/queue/config', { concurrency: 4 }))
    expect(changed).toEqual({ ...defaults, concurrency: 4 })
    expect(await jsonOf(await t.get('/api/whatsapp/queue/config'))).toEqual(changed)
  })

  it('refuses waits too long for the clock to name, and changes nothing', async () => {
    const t = await open()
    const before = await jsonOf(await t.get('/api/whatsapp/queue/config'))
    for (const change of [
      { backoffBaseMs: 86_400_001 },
      { backoffMaxMs: 9_000_000_000_000_000 },
      { rateLimitCooldownMs: 86_400_001 },
      { sendIntervalMs: 3_600_001 },
      { sameChatGapMs: 86_400_001 },
      { paceSpreadMs: 3_600_001 },
    ]) {
      const res = await t.post('/api/whatsapp/queue/config', change)
      expect(res.status).toBe(400)
      expect((await jsonOf(res)).error).toMatchObject({ code: 'VALIDATION_ERROR' })
    }
    expect(await jsonOf(await t.get('/api/whatsapp/queue/config'))).toEqual(before)
    // The longest waits allowed still give a retry a time.
    await t.post('/api/whatsapp/queue/config', { backoffBaseMs: 86_400_000, backoffMaxMs: 604_800_000 })
    await t.ready()
    await t.unpaced()
    const { body } = await t.send({ number: '081234560001', message: 'x' })
    expect(await t.job(body.jobId)).toMatchObject({ status: 'delayed', attempts: 1 })
  })

  it('retries an attempt interrupted by a stop, flagged as possibly sent twice', async () => {
    const dir = tempDir()
    const first = await openTestApi(dir, { sendLatencyMs: 60_000 })
    await first.sessions.create('default')
    await first.sessions.start('default')
    await first.settle()
    first.simulator.link('default')
    await first.settle()
    const { token } = await first.login()
    const res = await first.app.request('/api/whatsapp/send-message', {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ number: '081234567890', message: 'in flight' }),
    })
    const { jobId } = await jsonOf(res)
    await first.settle()
    expect(first.core.db.prepare('SELECT status FROM jobs').pluck().get()).toBe('active')
    // The process stops with the send in flight (nothing more is recorded for it).
    await first.core.close()

    const t = await open({}, dir)
    await t.api.sessions.boot()
    await t.api.settle()
    // The interrupted attempt may have reached the chat: its gap (3 s, plus half the 1 s spread) holds.
    expect(await t.job(jobId)).toMatchObject({ status: 'waiting', attempts: 1, duplicateRisk: true })
    t.api.clock.advance(3_500)
    await t.api.settle()
    const j = await t.job(jobId)
    expect(j).toMatchObject({ status: 'completed', attempts: 2, duplicateRisk: true })
  })

  it('archives jobs finished before the cut-off and removes them from the live log, projections consistent', async () => {
    const t = await open()
    await t.ready()
    await t.unpaced()
    const old: string[] = []
    for (let i = 0; i < 3; i++)
      old.push((await t.send({ number: `08123456780${i}`, message: `old ${i}` })).body.jobId)
    old.push((await t.send({ number: '081234560000', message: 'old failed' })).body.jobId)
    await t.api.settle()
    // Two days on, the session stopped meanwhile (the clock moves in steps an access token outlives).
    await t.api.sessions.stop('default')
    await t.api.settle()
    for (let i = 0; i < 2 * 24 * 6; i++) t.api.clock.advance(600_000)
    await t.api.sessions.start('default')
    await t.api.settle()
    const { token } = await t.api.login()
    const as = { Authorization: `Bearer ${token}` }
    const recent = (
      await jsonOf(
        await t.api.app.request('/api/whatsapp/send-message', {
          method: 'POST',
          headers: { ...as, 'Content-Type': 'application/json' },
          body: JSON.stringify({ number: '081234567899', message: 'recent' }),
        }),
      )
    ).jobId
    await t.api.settle()
    const oldEvents = old.flatMap((id) => t.api.core.store.readStream(`job-${id}`))

    const res = await t.api.app.request('/api/whatsapp/queue/clean', {
      method: 'POST',
      headers: { ...as, 'Content-Type': 'application/json' },
      body: JSON.stringify({ olderThanDays: 1 }),
    })
    expect(res.status).toBe(200)
    const report = await jsonOf(res)
    expect(report).toMatchObject({ jobs: 4, events: oldEvents.length })
    const archived = readFileSync(report.file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(archived).toEqual(JSON.parse(JSON.stringify(oldEvents)))
    for (const id of old) {
      expect(t.api.core.store.readStream(`job-${id}`)).toEqual([])
      expect((await t.api.app.request(`/api/whatsapp/jobs/${id}`, { headers: as })).status).toBe(404)
    }
    expect(
      (await jsonOf(await t.api.app.request(`/api/whatsapp/jobs/${recent}`, { headers: as }))).status,
    ).toBe('completed')
    const stats = await jsonOf(await t.api.app.request('/api/whatsapp/queue/stats', { headers: as }))
    expect(stats.counts).toMatchObject({ completed: 1, failed: 0 })
    const audit = t.api.core.store.readStream('queue-default').at(-1)
    expect(audit).toMatchObject({ type: 'QueueJobsArchived', data: { jobs: 4, file: report.file } })
    expect((await verifyProjections(t.api.core.db)).identical).toBe(true)
    // Outside the archive path, events still cannot be removed.
    expect(() =>
      t.api.core.db.prepare('DELETE FROM events WHERE stream_id = ?').run(`job-${recent}`),
    ).toThrow(/append-only/)
    // Nothing more is old enough now.
    const again = await t.api.app.request('/api/whatsapp/queue/clean', {
      method: 'POST',
      headers: { ...as, 'Content-Type': 'application/json' },
      body: JSON.stringify({ olderThanDays: 1 }),
    })
    expect(await jsonOf(again)).toMatchObject({ jobs: 0, file: null })
    const bad = await t.api.app.request('/api/whatsapp/queue/clean', {
      method: 'POST',
      headers: { ...as, 'Content-Type': 'application/json' },
      body: JSON.stringify({ olderThanDays: 0 }),
    })
    expect(bad.status).toBe(400)
  })

  it('archives from the command line too: kurir events archive', async () => {
    const t = await open()
    await t.ready()
    await t.send({ number: '081234567800', message: 'x' })
    await t.api.settle()
    await t.api.close()
    closers.pop()
    // The command runs on the machine's clock, long after the test clock's day: the job is old.
    const first = await runKurir(t.dir, 'events', 'archive', '--older-than-days', '1')
    expect(first).toMatchObject({ code: 0, out: expect.stringMatching(/^archived 1 jobs \(3 events\)/) })
    const none = await runKurir(t.dir, 'events', 'archive', '--older-than-days', '1')
    expect(none).toMatchObject({ code: 0, out: expect.stringMatching(/nothing archived/) })
    expect((await runKurir(t.dir, 'replay', 'verify')).code).toBe(0)
    expect((await runKurir(t.dir, 'events', 'archive')).code).toBe(1)
  })

  it('kurir events archive refuses an empty or malformed --session, archiving nothing', async () => {
    const t = await open()
    await t.ready()
    await t.send({ number: '081234567800', message: 'x' })
    await t.api.settle()
    await t.api.close()
    closers.pop()
    for (const session of ['', 'a/b']) {
      const r = await runKurir(t.dir, 'events', 'archive', '--older-than-days', '1', '--session', session)
      expect(r).toMatchObject({
        code: 1,
        err: expect.stringMatching(/^kurir: a session id is 1 to 64 letters/),
      })
    }
    const all = await runKurir(t.dir, 'events', 'archive', '--older-than-days', '1')
    expect(all).toMatchObject({ code: 0, out: expect.stringMatching(/^archived 1 jobs/) })
  })
})
