import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openCore } from '../../src/core/open-core.ts'
import { verifyProjections } from '../../src/projections/verify.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const WRITER = new URL('../fixtures/crash-writer.ts', import.meta.url).pathname

describe('a process killed in the middle of a batch', () => {
  it('leaves whole transactions only, with projections that match the log', async () => {
    const file = join(tempDir(), 'kurir.db')
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, file], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`writer exited early (${code})`)))
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) resolve()
      })
    })
    // Let it get well into its stream of batches, then pull the plug mid-flight.
    await new Promise((r) => setTimeout(r, 300))
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGKILL')
    await exited

    const core = openCore({ file })
    try {
      const perStream = core.db
        .prepare('SELECT stream_id, count(*) AS n, max(version) AS v FROM events GROUP BY stream_id')
        .all() as { stream_id: string; n: number; v: number }[]
      expect(perStream.length).toBeGreaterThanOrEqual(50)
      // Every command's three events are all there or none is, and whole batches of 50 commands.
      for (const s of perStream) expect([s.n, s.v]).toEqual([3, 3])
      expect(perStream.length % 50).toBe(0)
      const jobs = core.db.prepare("SELECT count(*) FROM jobs WHERE status = 'completed'").pluck().get()
      expect(jobs).toBe(perStream.length)
      expect((await verifyProjections(core.db)).identical).toBe(true)
    } finally {
      await core.close()
    }
  })
})
