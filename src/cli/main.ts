// `kurir <command>`: serve, migrate, user, replay rebuild | verify | trace, events export.
import { KurirError, ValidationError } from '../errors.ts'
import { busyCodeOf } from '../eventlog/database.ts'
import { eventsCommand } from './events-command.ts'
import { migrateCommand } from './migrate-command.ts'
import { replayCommand } from './replay-command.ts'
import { serveCommand } from './serve-command.ts'
import { userCommand } from './user-command.ts'

export interface Io {
  out: (line: string) => void
  err: (line: string) => void
  /** Whether `err` writes to a terminal (where a QR can be scanned) rather than a pipe or a file. */
  errIsTerminal?: boolean
  env: NodeJS.ProcessEnv
  /**
   * Resolves when whoever runs the command asks it to stop (Ctrl-C, SIGTERM): a command that serves
   * something until then (`replay trace --inspect`) waits for it.
   */
  stopRequested?: () => Promise<void>
}

/** Resolves at the next SIGINT or SIGTERM, which then no longer ends the process by itself. */
const nextStopSignal = (): Promise<void> =>
  new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve()
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })

const USAGE = `usage: kurir <command>

  serve                                   run the gateway (the same as npm start)
  migrate                                 apply pending migrations to DATA_DIR and exit
  user add --email E --password P [--role admin|sender]
                                          create a user (role admin unless given)
  user list                               every user: email, role, created
  user remove --email E                   delete a user
  user passwd --email E --password P      set a user's password
  replay rebuild                          drop and rebuild every projection from the event log
  replay verify                           rebuild aside and compare with the live projections
  replay trace <streamId> [--inspect]     each event of a stream: state before → after, effects asked for
  events export [--stream S] [--after N]  the log as NDJSON on stdout
  events archive --older-than-days N [--session S]
                                          finished jobs to DATA_DIR/archive, out of the live log`

const defaultIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  errIsTerminal: process.stderr.isTTY === true,
  env: process.env,
  stopRequested: nextStopSignal,
}

/** Commands configured through the environment alone take nothing else; a stray word is a mistake. */
const noArguments = (command: string, args: string[]) => {
  if (args.length > 0)
    throw new ValidationError(
      `kurir ${command} takes no arguments (got ${JSON.stringify(args.join(' '))}); it is configured through the environment (PORT, HOST, DATA_DIR, …)`,
    )
}

/** Runs one command; resolves to the process exit code. */
export const main = async (argv: string[], io: Io = defaultIo): Promise<number> => {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'serve':
        noArguments('serve', rest)
        return await serveCommand(rest, io)
      case 'migrate':
        noArguments('migrate', rest)
        return migrateCommand(rest, io)
      case 'user':
        return await userCommand(rest, io)
      case 'replay':
        return await replayCommand(rest, io)
      case 'events':
        return await eventsCommand(rest, io)
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE)
        return command === undefined ? 1 : 0
      default:
        io.err(`kurir: unknown command '${command}'\n\n${USAGE}`)
        return 1
    }
  } catch (err) {
    if (err instanceof KurirError) {
      io.err(`kurir: ${err.message}`)
      return 1
    }
    // An option the command does not know, or one without its value: the message says which.
    if (String((err as NodeJS.ErrnoException)?.code).startsWith('ERR_PARSE_ARGS')) {
      io.err(`kurir: ${(err as Error).message} (kurir help lists the commands and their options)`)
      return 1
    }
    const code = String((err as NodeJS.ErrnoException)?.code)
    // The database is held by another process (a gateway writing, a rebuild) past the busy timeout.
    if (busyCodeOf(err) !== null) {
      io.err(
        `kurir: the database is busy (${code}): another process is writing to it; try again, or stop the gateway for long work such as replay rebuild`,
      )
      return 1
    }
    // What the system refused (a port in use, a file that cannot be written): its message says it.
    if (/^E[A-Z]+$/.test(code) || code.startsWith('SQLITE_')) {
      io.err(`kurir: ${(err as Error).message} (${code})`)
      return 1
    }
    io.err(`kurir: ${(err as Error)?.stack ?? String(err)}`)
    return 1
  }
}
