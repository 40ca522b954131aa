// Live processes of this machine, read from /proc: to check that no browser outlives its engine.
import { readdirSync, readFileSync } from 'node:fs'

/** Live processes whose command line mentions `text` (Chromium passes its user data dir to every child). */
export const processesMentioning = (text: string): string[] =>
  readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        return cmdline.includes(text) ? [`${pid}: ${cmdline.replaceAll('\0', ' ').slice(0, 200)}`] : []
      } catch {
        return []
      }
    })
