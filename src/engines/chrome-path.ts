// The system's Chromium that whatsapp-web.js drives: where it is, the flags it runs with, and making sure it is gone.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { EngineError } from './engine.ts'

/** Where Chromium is looked for when CHROME_PATH is unset, in this order. */
export const DEFAULT_CHROME_PATHS: readonly string[] = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome-stable',
]

/**
 * Flags for a server without a display, GPU or user: no sandbox (often run as root in a container), a
 * /tmp-backed shared memory (Docker's /dev/shm is 64 MB), and none of the background traffic a desktop
 * browser makes on its own.
 */
export const CHROMIUM_FLAGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-extensions',
  '--no-first-run',
  '--mute-audio',
]

const isFile = (path: string): boolean => {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}

/**
 * The browser to launch: CHROME_PATH when set, else the first of the usual paths that exists.
 * Throws EngineError `BROWSER_NOT_FOUND` saying what to set or install.
 *
 * @example
 * const chromePath = findChrome(process.env.CHROME_PATH) // '/usr/bin/chromium'
 */
export const findChrome = (
  chromePath: string | undefined,
  exists: (path: string) => boolean = isFile,
): string => {
  if (chromePath) {
    if (exists(chromePath)) return chromePath
    throw new EngineError('BROWSER_NOT_FOUND', `CHROME_PATH is set to ${chromePath}, but no browser is there`)
  }
  const found = DEFAULT_CHROME_PATHS.find((path) => exists(path))
  if (found !== undefined) return found
  throw new EngineError(
    'BROWSER_NOT_FOUND',
    `no Chromium found at ${DEFAULT_CHROME_PATHS.join(', ')}: set CHROME_PATH to a Chromium or Chrome ` +
      'binary, or install one (apt-get install chromium)',
  )
}

const isAlive = (target: number): boolean => {
  try {
    process.kill(target, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Whether any process of the group is still running. Zombies do not count: a container whose init does
 * not reap would keep them forever, and they hold nothing. Without /proc, the group signal has to do.
 */
const groupAlive = (pgid: number): boolean => {
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return isAlive(-pgid)
  }
  return entries.some((entry) => {
    if (!/^\d+$/.test(entry)) return false
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // Fields after the parenthesised command name: state, ppid, pgrp, …
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(') ') + 2).split(' ')
      return pgrp === String(pgid) && state !== 'Z'
    } catch {
      return false
    }
  })
}

const killGroup = (pgid: number) => {
  try {
    process.kill(-pgid, 'SIGKILL')
  } catch {
    // Already gone.
  }
}

/**
 * Makes sure a launched Chromium is gone, children included, waiting (bounded) until it is. Puppeteer
 * launches Chromium as the leader of its own process group; even after a clean close its zygote and
 * renderers take a moment to exit, and a browser whose close failed would stay. The group, not the
 * pid alone, is checked and killed: a pid freed by a browser that already exited may be someone else's.
 *
 * @example
 * await killChrome(browser.process().pid)
 */
export const killChrome = async (pid: number, waitMs = 5_000): Promise<void> => {
  if (!groupAlive(pid)) return
  killGroup(pid)
  const deadline = Date.now() + waitMs
  while (groupAlive(pid) && Date.now() < deadline) await delay(50)
}

/**
 * Ends a Chromium left running on a profile by a gateway that was killed (`kill -9` ends Node, not the
 * browser it launched in its own process group). Such a browser keeps the profile's `SingletonLock`,
 * and every later start on the profile fails with "The browser is already running". The lock names the
 * browser's pid; it is ended only when that process is a browser of this very profile, since a pid
 * freed long ago may be anyone's now. Answers the pid it ended, or null.
 *
 * @example
 * await endOrphanBrowser(join(dataDir, 'sessions', 'default', 'session'))
 */
export const endOrphanBrowser = async (profileDir: string): Promise<number | null> => {
  let owner: string
  try {
    owner = readlinkSync(join(profileDir, 'SingletonLock'))
  } catch {
    return null
  }
  const [, host, digits] = /^(.*)-(\d+)$/.exec(owner) ?? []
  if (host !== hostname() || digits === undefined) return null
  const pid = Number(digits)
  let args: string[]
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
  } catch {
    return null
  }
  if (!args.includes(`--user-data-dir=${resolve(profileDir)}`)) return null
  // Puppeteer makes the browser the leader of its own process group: the group goes, children included.
  await killChrome(pid)
  if (isAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Gone meanwhile.
    }
  }
  return pid
}
