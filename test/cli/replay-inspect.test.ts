// `kurir replay trace <stream> --inspect`: the replay goes to the XState inspector's relay on the loopback
// address, as an actor and one event and snapshot per stored event, stripped of the number and the text.
import { type AddressInfo, createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { main } from '../../src/cli/main.ts'
import { streamIds } from '../../src/core/aggregates.ts'
import { jobSentOnSecondAttempt } from '../support/facts.ts'
import { freePort } from '../support/free-port.ts'
import { openTestCore } from '../support/store.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const JOB = '01JTEST0000000000000000001'

describe('kurir replay trace --inspect', () => {
  it('sends the stream to the relay as an actor with its events and snapshots, stripped', async () => {
    const dir = tempDir()
    const core = openTestCore(dir)
    await core.commands.execute(streamIds.job(JOB), jobSentOnSecondAttempt)
    await core.close()
    const port = await freePort()

    const heard: string[] = []
    let socket: WebSocket | undefined
    const err: string[] = []
    let stopAsked = false
    const code = await main(['replay', 'trace', streamIds.job(JOB), '--inspect'], {
      out: () => {},
      err: (line) => err.push(line),
      env: { DATA_DIR: dir, INSPECT_PORT: String(port) },
      // The trace is all sent, and the command waits to be stopped: only now does a page come, late,
      // and it is told everything. Then Ctrl-C.
      stopRequested: async () => {
        stopAsked = true
        socket = new WebSocket(`ws://127.0.0.1:${port}`)
        socket.on('message', (data) => heard.push(data.toString()))
        await expect.poll(() => heard.filter((m) => m.includes('"completed"')).length).toBeGreaterThan(0)
      },
    })
    expect(code).toBe(0)
    expect(stopAsked).toBe(true)
    expect(err).toEqual([
      `inspector: open http://localhost:${port} in a browser on this machine to watch job-${JOB}`,
      'inspector: the trace waits there for the page; press Ctrl-C to stop',
    ])
    socket?.close()

    const messages = heard.map(
      (m) => JSON.parse(m) as { type: string; sessionId: string; snapshot?: unknown },
    )
    const mine = messages.filter((m) => m.sessionId === `job-${JOB}`)
    expect(mine.filter((m) => m.type === '@xstate.actor')).toHaveLength(1)
    expect(mine.filter((m) => m.type === '@xstate.event')).toHaveLength(6)
    const values = mine
      .filter((m) => m.type === '@xstate.snapshot')
      .map((m) => (m.snapshot as { value: unknown }).value)
    expect(values).toEqual(['waiting', 'active', 'delayed', 'waiting', 'active', 'completed'])
    const all = heard.join('\n')
    expect(all).not.toContain('1234567890')
    expect(all).not.toContain('Invoice 42 is due')
    // The relay is gone once the command ends.
    await expect(
      new Promise((resolve, reject) => {
        const probe = new WebSocket(`ws://127.0.0.1:${port}`)
        probe.once('open', () => resolve('open'))
        probe.once('error', reject)
      }),
    ).rejects.toThrow()
  })

  it('says in one line which variable to change when the port is taken', async () => {
    const dir = tempDir()
    const core = openTestCore(dir)
    await core.commands.execute(streamIds.job(JOB), jobSentOnSecondAttempt)
    await core.close()
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = (taken.address() as AddressInfo).port
    const err: string[] = []
    try {
      const code = await main(['replay', 'trace', streamIds.job(JOB), '--inspect'], {
        out: () => {},
        err: (line) => err.push(line),
        env: { DATA_DIR: dir, INSPECT_PORT: String(port) },
      })
      expect(code).toBe(1)
    } finally {
      taken.close()
    }
    expect(err).toHaveLength(1)
    expect(err[0]).toMatch(
      new RegExp(
        `^kurir: the inspector cannot listen on 127\\.0\\.0\\.1:${port}: .*; set INSPECT_PORT to a free port$`,
      ),
    )
  })
})
