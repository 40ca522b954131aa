// The simulator's state on disk under DATA_DIR/simulator: which sessions its phone linked, and every
// message it sent.
import {
  appendFileSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { SESSION_ID } from './engine.ts'

/** One line of `sent.ndjson`. */
export interface SentLine {
  messageId: string
  chatId: string
  body: string
  at: string
}

export interface SimulatorFiles {
  isLinked(sessionId: string): boolean
  /** The phone number stored with the session's link, or null when it has none. */
  linkedNumber(sessionId: string): string | null
  writeLink(sessionId: string, phoneNumber: string): void
  /** Forgets the session's link; nothing happens when there is none. */
  removeLink(sessionId: string): void
  /**
   * Appends one JSON line at once (so lines keep the order of the sends) and resolves once it is flushed
   * to disk. Sends that append while a flush is running share the next one.
   */
  appendSent(line: SentLine): Promise<void>
  /** Resolves once every line appended so far is flushed (at once when none is waiting). */
  flushed(): Promise<void>
}

/** Writes and fsyncs, so what the simulator reports as done survives a crash of the process. */
const writeDurably = (path: string, flags: 'a' | 'w', text: string): void => {
  const fd = openSync(path, flags)
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/**
 * The simulator's files in `dataDir`: `simulator/linked/<sessionId>` holds a linked session's phone number,
 * `simulator/sent.ndjson` one line per sent message.
 *
 * @example
 * const files = createSimulatorFiles('/var/lib/kurir')
 * files.writeLink('sales', '628110000123')
 * files.isLinked('sales') // true
 */
export const createSimulatorFiles = (dataDir: string): SimulatorFiles => {
  const root = join(dataDir, 'simulator')
  const linkedDir = join(root, 'linked')
  const sentFile = join(root, 'sent.ndjson')
  let rootMade = false

  // Session ids become file names; anything else could reach outside the folder.
  const linkedFile = (sessionId: string): string => {
    if (!SESSION_ID.test(sessionId)) throw new RangeError(`not a session id: ${JSON.stringify(sessionId)}`)
    return join(linkedDir, sessionId)
  }

  // Waiters for a flush that starts after their line was written. One flush at a time, off this thread;
  // the lines written while it runs are covered by the next one.
  let waiting: { resolve: () => void; reject: (err: unknown) => void }[] = []
  let flushing = false
  const idleWaiters: (() => void)[] = []
  const flushLoop = async () => {
    flushing = true
    try {
      const file = await open(sentFile, 'a')
      try {
        while (waiting.length > 0) {
          const batch = waiting
          waiting = []
          try {
            await file.sync()
            for (const w of batch) w.resolve()
          } catch (err) {
            for (const w of batch) w.reject(err)
          }
        }
      } finally {
        await file.close()
      }
    } catch (err) {
      for (const w of waiting.splice(0)) w.reject(err)
    } finally {
      flushing = false
      // A line written while the file was being closed waits for a flush of its own.
      if (waiting.length > 0) void flushLoop()
      else for (const done of idleWaiters.splice(0)) done()
    }
  }

  return {
    isLinked: (sessionId) => existsSync(linkedFile(sessionId)),
    linkedNumber(sessionId) {
      try {
        return readFileSync(linkedFile(sessionId), 'utf8').trim() || null
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
        throw err
      }
    },
    writeLink(sessionId, phoneNumber) {
      const file = linkedFile(sessionId)
      mkdirSync(linkedDir, { recursive: true })
      writeDurably(file, 'w', phoneNumber)
    },
    removeLink: (sessionId) => rmSync(linkedFile(sessionId), { force: true }),
    appendSent(line) {
      if (!rootMade) {
        mkdirSync(root, { recursive: true })
        rootMade = true
      }
      appendFileSync(sentFile, JSON.stringify(line) + '\n')
      return new Promise<void>((resolve, reject) => {
        waiting.push({ resolve, reject })
        if (!flushing) void flushLoop()
      })
    },
    flushed: () =>
      flushing || waiting.length > 0
        ? new Promise<void>((resolve) => idleWaiters.push(resolve))
        : Promise.resolve(),
  }
}
