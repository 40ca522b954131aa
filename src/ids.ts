// Identifier sources. ULIDs sort by creation time, which keeps job ids in the order they were made.
import { monotonicFactory } from 'ulid'
import type { Clock } from './clock.ts'

export type IdSource = () => string

/** Monotonic ULIDs seeded from the given clock (so a fake clock gives ids in fake time). */
export const ulidSource = (clock: Clock): IdSource => {
  const next = monotonicFactory()
  return () => next(clock.now())
}
