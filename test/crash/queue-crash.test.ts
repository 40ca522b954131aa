// The gateway killed with SIGKILL in the middle of 5,000 sends, then started again: every message reaches a
// final state, none is sent twice unless its job says it may have been, and the projections match the log.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openCore } from '../../src/core/open-core.ts'
import { verifyProjections } from '../../src/projections/verify.ts'
import { killGateway, startGatewayProcess } from '../support/gateway-process.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const MESSAGES = 5_000
const CONCURRENCY = 3

// Sends take a moment, so that some are in flight when the process is killed.
const startGateway = (dataDir: string) => startGatewayProcess(dataDir, { SIM_SEND_LATENCY_MS: '2' })
const killed = killGateway

const sentLines = (dataDir: string): { body: string }[] => {
  const file = join(dataDir, 'simulator', 'sent.ndjson')
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as { body: string }]
      } catch {
        return [] // a line cut by the kill is not a sent message
      }
    })
}

/**
 * Sends the messages of `indexes` with `width` requests at once; answers the job id of each acknowledged
 * one, in `acked` (which the caller may watch while it fills).
 */
const sendAll = async (
  gw: { base: string; auth: Record<string, string> },
  indexes: number[],
  width: number,
  stop: () => boolean,
  acked = new Map<number, string>(),
) => {
  let next = 0
  const worker = async () => {
    while (next < indexes.length && !stop()) {
      const i = indexes[next++] as number
      try {
        const res = await fetch(`${gw.base}/api/whatsapp/send-message`, {
          method: 'POST',
          headers: { ...gw.auth, 'Content-Type': 'application/json', 'Idempotency-Key': `msg-${i}` },
          // Last four digits 3000…7999: numbers the simulator sends to.
          body: JSON.stringify({ number: `0812${30_003_000 + i}`, message: `message ${i}` }),
        })
        if (res.status === 202) acked.set(i, ((await res.json()) as { jobId: string }).jobId)
      } catch {
        // The gateway went away mid-request: the client does not know whether it was queued.
      }
    }
  }
  await Promise.all(Array.from({ length: width }, worker))
  return acked
}

describe('a gateway killed in the middle of 5,000 sends', () => {
  it('loses no message and sends none twice except the few flagged as interrupted', async () => {
    const dataDir = tempDir()
    const all = Array.from({ length: MESSAGES }, (_, i) => i)

    let gw = await startGateway(dataDir)
    // No pacing: the point is many sends in flight, not a polite rate.
    const unpaced = await fetch(`${gw.base}/api/whatsapp/queue/config`, {
      method: 'POST',
      headers: { ...gw.auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ maxPerMinute: 0, sameChatGapMs: 0, paceSpreadMs: 0 }),
    })
    expect(unpaced.status).toBe(200)
    let kill = false
    const queued = new Map<number, string>()
    const first = sendAll(gw, all, 20, () => kill, queued)
    // Pull the plug once sending is well under way: 500 sent, or, on a machine busy enough that sending
    // lags far behind queueing, 50 sent with half of the messages queued.
    const underWay = () => {
      const sent = sentLines(dataDir).length
      return sent >= 500 || (sent >= 50 && queued.size >= MESSAGES / 2)
    }
    while (!underWay()) await new Promise((r) => setTimeout(r, 20))
    kill = true
    await killed(gw.child)
    const acked = await first
    expect(acked.size).toBeGreaterThan(0)
    // Killed in the middle: not everything was queued, and much less was sent.
    expect(acked.size).toBeLessThan(MESSAGES)
    expect(sentLines(dataDir).length).toBeLessThan(acked.size)

    // Started again, the client re-sends what it has no answer for, with the same idempotency keys.
    gw = await startGateway(dataDir)
    const rest = await sendAll(
      gw,
      all.filter((i) => !acked.has(i)),
      20,
      () => false,
    )
    for (const [i, jobId] of rest) acked.set(i, jobId)
    expect(acked.size).toBe(MESSAGES)

    // Every job reaches a final state.
    for (;;) {
      const stats = (await (
        await fetch(`${gw.base}/api/whatsapp/queue/stats`, { headers: gw.auth })
      ).json()) as {
        counts: Record<string, number>
      }
      const c = stats.counts
      if ((c['waiting'] ?? 0) + (c['active'] ?? 0) + (c['delayed'] ?? 0) === 0) {
        expect(c['completed']).toBe(MESSAGES)
        break
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    await new Promise<void>((resolve) => {
      gw.child.once('exit', () => resolve())
      gw.child.kill('SIGTERM')
    })

    // Each message went out; a message that went out twice belongs to a job flagged as interrupted,
    // and there are no more of those than sends could be in flight at the kill.
    const timesSent = new Map<string, number>()
    for (const line of sentLines(dataDir)) timesSent.set(line.body, (timesSent.get(line.body) ?? 0) + 1)
    expect(timesSent.size).toBe(MESSAGES)
    const core = openCore({ file: join(dataDir, 'kurir.db') })
    try {
      const flagged = new Set(
        core.db.prepare('SELECT body FROM jobs WHERE duplicate_risk = 1').pluck().all() as string[],
      )
      const twice = [...timesSent].filter(([, n]) => n > 1).map(([body]) => body)
      for (const body of twice) expect(flagged.has(body), body).toBe(true)
      expect(flagged.size).toBeLessThanOrEqual(CONCURRENCY)
      expect(Math.max(...timesSent.values())).toBeLessThanOrEqual(2)
      expect(core.db.prepare('SELECT count(*) FROM jobs').pluck().get()).toBe(MESSAGES)
      expect((await verifyProjections(core.db)).identical).toBe(true)
    } finally {
      await core.close()
    }
  }, 240_000)
})
