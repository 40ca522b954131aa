import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config.ts'
import { ConfigError } from '../src/errors.ts'
import { chooseLogFormat, createLogger, prettyDestination } from '../src/logger.ts'

/** A stream that keeps what is written to it, and tells when something arrives. */
const captureStream = () => {
  let written = ''
  let arrived: () => void = () => {}
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      written += chunk.toString()
      arrived()
      done()
    },
  })
  const next = () =>
    new Promise<string>((resolve) => {
      arrived = () => resolve(written)
    })
  return { stream, next }
}

describe('the log format', () => {
  it('is pretty on a terminal and JSON otherwise, unless LOG_FORMAT says', () => {
    expect(chooseLogFormat(undefined, true)).toBe('pretty')
    expect(chooseLogFormat(undefined, false)).toBe('json')
    expect(chooseLogFormat('json', true)).toBe('json')
    expect(chooseLogFormat('pretty', false)).toBe('pretty')
  })

  it('is read from LOG_FORMAT, and a bad value stops the start naming it', () => {
    expect(loadConfig({}).logFormat).toBeUndefined()
    expect(loadConfig({ LOG_FORMAT: 'json' }).logFormat).toBe('json')
    expect(loadConfig({ LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty')
    expect(() => loadConfig({ LOG_FORMAT: 'xml' })).toThrow(ConfigError)
    expect(() => loadConfig({ LOG_FORMAT: 'xml' })).toThrow(/LOG_FORMAT/)
  })

  it('pretty lines are for people, and still never hold a password, a token or a message body', async () => {
    const out = captureStream()
    const log = createLogger('info', await prettyDestination(out.stream))
    const arrived = out.next()
    log.info(
      {
        jobId: '01KDZQ4M3NAB7CDEFGHJKMNPQR',
        password: 'correct horse battery',
        token: 'eyJhbGciOiJIUzI1NiJ9.secret',
        body: 'the text of a private message',
        req: { headers: { authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.secret' } },
      },
      'login attempt',
    )
    const line = await arrived
    expect(line).toContain('login attempt')
    expect(line).toContain('INFO')
    expect(line).toContain('01KDZQ4M3NAB7CDEFGHJKMNPQR')
    expect(line).toContain('[redacted]')
    expect(() => JSON.parse(line)).toThrow()
    for (const secret of ['correct horse battery', 'eyJhbGciOiJIUzI1NiJ9', 'the text of a private message']) {
      expect(line).not.toContain(secret)
    }
  })
})
