// Exponential backoff with jitter, as a pure function of configuration, attempt and a jitter sample that
// the caller drew before appending (so folding the same events always gives the same delay).
import { parseIsoMs } from './instant.ts'

/** How far jitter moves a delay: ±20 %. */
export const JITTER_RATIO = 0.2

/**
 * The delay before retry number `attempt` (1-based): base·2^(attempt−1), moved by up to ±20 % by
 * `jitter` ∈ [0, 1) (0.5 is no change), never above `maxMs`.
 *
 * @example
 * backoffDelay({ baseMs: 2000, maxMs: 60000 }, 3, 0.5) // 8000
 */
export const backoffDelay = (
  config: { baseMs: number; maxMs: number },
  attempt: number,
  jitter: number,
): number => {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30)
  const raw = config.baseMs * 2 ** exponent
  const clampedJitter = Math.min(Math.max(jitter, 0), 1)
  const moved = raw * (1 + JITTER_RATIO * (2 * clampedJitter - 1))
  return Math.round(Math.min(moved, config.maxMs))
}

/** An event's ISO instant as epoch milliseconds (pure: parses the payload, reads no clock). */
export const msOf = (iso: string): number => parseIsoMs(iso)
