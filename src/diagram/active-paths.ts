// The state paths a snapshot value makes active, to highlight them in a diagram.

/**
 * Every active state path for a state value: each compound state and its active child.
 *
 * @example
 * activePaths({ ready: 'idle' })              // ['ready', 'ready.idle']
 * activePaths({ flow: 'running', pace: 'normal' }) // ['flow', 'flow.running', 'pace', 'pace.normal']
 * activePaths('stopped')                        // ['stopped']
 */
export const activePaths = (value: unknown): string[] => {
  const out: string[] = []
  const walk = (current: unknown, prefix: string) => {
    const join = (key: string) => (prefix === '' ? key : `${prefix}.${key}`)
    if (typeof current === 'string') {
      out.push(join(current))
    } else if (current !== null && typeof current === 'object') {
      for (const [key, child] of Object.entries(current)) {
        out.push(join(key))
        walk(child, join(key))
      }
    }
  }
  walk(value, '')
  return out
}
