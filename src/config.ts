// Configuration from the environment, checked once at start; a bad value stops the start with its name.
import { mkdirSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { getCountries, getCountryCallingCode } from 'libphonenumber-js'
import { z } from 'zod'
import { ConfigError } from './errors.ts'
import type { LogFormat } from './logger.ts'

/** A whole number written in decimal digits (a leading minus where `min` is negative), within bounds. */
/** A comma-separated list, each item trimmed and checked; blank items are dropped. */
const commaList = <T extends z.ZodType<unknown, string>>(item: T) =>
  z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean),
    )
    .pipe(z.array(item))
    .optional()

const envInt = (min: number, max: number, fallback: number) =>
  z
    .string()
    .regex(min < 0 ? /^-?\d{1,10}$/ : /^\d{1,10}$/, 'a whole number in decimal digits')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .default(fallback)

/** The calling codes of the countries libphonenumber-js knows (62, 1, 44, …). */
const CALLING_CODES = new Set(getCountries().map((country) => getCountryCallingCode(country)))

const schema = z
  .object({
    PORT: envInt(0, 65535, 3000),
    HOST: z.string().min(1).default('127.0.0.1'),
    DATA_DIR: z.string().min(1).default('./data'),
    JWT_SECRET: z.string().optional(),
    WA_ENGINE: z.enum(['wwebjs', 'simulator']).default('wwebjs'),
    CHROME_PATH: z.string().optional(),
    ADMIN_EMAIL: z.string().optional(),
    ADMIN_PASSWORD: z.string().optional(),
    DEFAULT_COUNTRY_CODE: z
      .string()
      .regex(/^\d{1,4}$/, 'digits only, such as 62')
      .refine((code) => CALLING_CODES.has(code), 'not a country calling code (62 for Indonesia, 1, 44, …)')
      .default('62'),
    SQLITE_SYNCHRONOUS: z
      .string()
      .transform((s) => s.toUpperCase())
      .pipe(z.enum(['FULL', 'NORMAL']))
      .default('FULL'),
    LOG_LEVEL: z
      .string()
      .transform((s) => s.toLowerCase())
      .pipe(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
      .default('info'),
    LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
    QR_TERMINAL: z.enum(['0', '1', '']).optional(),
    INSPECT: z.enum(['0', '1', '']).optional(),
    INSPECT_PORT: envInt(1, 65535, 8080),
    NODE_ENV: z.string().optional(),
    CORS_ORIGINS: commaList(z.url({ protocol: /^https?$/ }).or(z.literal('*'))),
    TRUST_PROXY: commaList(z.union([z.ipv4(), z.ipv6()])),
    BCRYPT_COST: envInt(10, 15, 12),
    SESSION_KEEPALIVE_MS: envInt(1000, 86_400_000, 30_000),
    SIM_LINK_AFTER_MS: envInt(-1, 86_400_000, 1000),
    SIM_SEND_LATENCY_MS: envInt(0, 600_000, 0),
  })
  // One without the other would be ignored without a word.
  .refine((e) => (e.ADMIN_EMAIL === undefined) === (e.ADMIN_PASSWORD === undefined), {
    message: 'ADMIN_EMAIL and ADMIN_PASSWORD go together: set both, or neither',
    path: ['ADMIN_EMAIL'],
  })

export interface Config {
  port: number
  host: string
  dataDir: string
  dbFile: string
  jwtSecret: string | undefined
  engine: 'wwebjs' | 'simulator'
  chromePath: string | undefined
  adminEmail: string | undefined
  adminPassword: string | undefined
  defaultCountryCode: string
  synchronous: 'FULL' | 'NORMAL'
  logLevel: string
  /** LOG_FORMAT: JSON lines or readable ones; unset: readable on a terminal, JSON otherwise. */
  logFormat: LogFormat | undefined
  /** QR_TERMINAL: draw a session's QR on standard error; unset: only when it is a terminal. */
  qrTerminal: boolean | undefined
  /** INSPECT=1: the live machines are reported to the XState inspector (development only). */
  inspect: boolean
  /** INSPECT_PORT: the inspector's local relay (HTTP page and WebSocket) on 127.0.0.1. */
  inspectPort: number
  production: boolean
  /** Origins allowed by CORS (CORS_ORIGINS, comma separated); none by default. */
  corsOrigins: string[]
  /** Proxies whose X-Forwarded-For is believed for the login throttle (TRUST_PROXY); none by default. */
  trustedProxies: string[]
  bcryptCost: number
  /** Pause between keepalive probes of a ready session (SESSION_KEEPALIVE_MS). */
  keepaliveMs: number
  simulator: {
    /** SIM_LINK_AFTER_MS: how long the simulated phone takes to scan; -1: never by itself. */
    linkAfterMs: number
    /** SIM_SEND_LATENCY_MS */
    sendLatencyMs: number
  }
}

/**
 * Makes DATA_DIR if it is not there; a ConfigError naming it when it cannot be a folder.
 *
 * @example
 * ensureDataDir(config.dataDir)
 */
export const ensureDataDir = (dataDir: string): void => {
  try {
    mkdirSync(dataDir, { recursive: true })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new ConfigError(
      code === 'EEXIST' || code === 'ENOTDIR'
        ? `DATA_DIR ${dataDir} is not a folder`
        : `DATA_DIR ${dataDir} cannot be made: ${(err as Error).message}`,
    )
  }
  if (!statSync(dataDir).isDirectory()) throw new ConfigError(`DATA_DIR ${dataDir} is not a folder`)
}

/**
 * @example
 * const config = loadConfig(process.env)
 */
export const loadConfig = (env: NodeJS.ProcessEnv = process.env): Config => {
  // Unset, empty and blank are the same: the default.
  const parsed = schema.safeParse(
    Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== '')),
  )
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')
    throw new ConfigError(`invalid configuration: ${problems}`)
  }
  const e = parsed.data
  const dataDir = resolve(e.DATA_DIR)
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir,
    dbFile: resolve(dataDir, 'kurir.db'),
    jwtSecret: e.JWT_SECRET,
    engine: e.WA_ENGINE,
    chromePath: e.CHROME_PATH,
    adminEmail: e.ADMIN_EMAIL,
    adminPassword: e.ADMIN_PASSWORD,
    defaultCountryCode: e.DEFAULT_COUNTRY_CODE,
    synchronous: e.SQLITE_SYNCHRONOUS,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    qrTerminal: e.QR_TERMINAL === undefined || e.QR_TERMINAL === '' ? undefined : e.QR_TERMINAL === '1',
    inspect: e.INSPECT === '1',
    inspectPort: e.INSPECT_PORT,
    production: e.NODE_ENV === 'production',
    corsOrigins: e.CORS_ORIGINS ?? [],
    trustedProxies: e.TRUST_PROXY ?? [],
    bcryptCost: e.BCRYPT_COST,
    keepaliveMs: e.SESSION_KEEPALIVE_MS,
    simulator: { linkAfterMs: e.SIM_LINK_AFTER_MS, sendLatencyMs: e.SIM_SEND_LATENCY_MS },
  }
}
