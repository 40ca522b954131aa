// Work on one key at a time, in the order it was asked for; other keys are not held up.

/**
 * A key with work under way has an entry: the work waiting for it, in order. A key with nothing waiting
 * costs no promise beyond the work's own.
 *
 * @example
 * const inTurn = oneAtATime()
 * await inTurn('queue-default', () => commands.execute(…))
 */
export const oneAtATime = () => {
  const busy = new Map<string, (() => void)[]>()
  const run = async <T>(key: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work()
    } finally {
      const next = busy.get(key)?.shift()
      if (next) next()
      else busy.delete(key)
    }
  }
  return <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const waiting = busy.get(key)
    if (waiting === undefined) {
      busy.set(key, [])
      return run(key, work)
    }
    return new Promise<void>((turn) => waiting.push(turn)).then(() => run(key, work))
  }
}
