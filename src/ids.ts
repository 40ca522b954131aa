// Identifier sources. ULIDs sort by creation time, which keeps job ids in the order they were made.
import { randomFillSync } from 'node:crypto'
import { monotonicFactory } from 'ulid'
import type { Clock } from './clock.ts'

export type IdSource = () => string

const POOL_BYTES = 4096

/**
 * Random fractions in [0, 1) from the operating system's generator, drawn 4 KiB at a time: the `ulid`
 * package asks for one byte per character, and one system call per byte cost about 70 µs a request.
 */
const pooledRandom = (): (() => number) => {
  const pool = new Uint8Array(POOL_BYTES)
  let at = POOL_BYTES
  return () => {
    if (at === POOL_BYTES) {
      randomFillSync(pool)
      at = 0
    }
    return (pool[at++] as number) / 256
  }
}

/** Monotonic ULIDs seeded from the given clock (so a fake clock gives ids in fake time). */
export const ulidSource = (clock: Clock): IdSource => {
  const next = monotonicFactory(pooledRandom())
  return () => next(clock.now())
}
