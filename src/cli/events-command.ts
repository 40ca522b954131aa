// `kurir events export [--stream S] [--after N]`: the log as NDJSON on stdout, in position order.
import { parseArgs } from 'node:util'
import { ValidationError } from '../errors.ts'
import type { Io } from './main.ts'
import { openExisting } from './open-existing.ts'

const PAGE = 5000

export const eventsCommand = async (args: string[], io: Io): Promise<number> => {
  const [sub, ...rest] = args
  if (sub !== 'export') {
    io.err('usage: kurir events export [--stream S] [--after N]')
    return 1
  }
  const { values } = parseArgs({
    args: rest,
    options: { stream: { type: 'string' }, after: { type: 'string' } },
  })
  const after = values.after === undefined ? 0 : Number(values.after)
  if (!Number.isInteger(after) || after < 0)
    throw new ValidationError('--after takes a position: a whole number ≥ 0')
  const core = openExisting(io)
  try {
    let position = after
    for (;;) {
      const page = core.store.readAll(position, PAGE, values.stream ? { streamId: values.stream } : {})
      for (const e of page) io.out(JSON.stringify(e))
      if (page.length < PAGE) break
      position = page.at(-1)?.position ?? position
    }
    return 0
  } finally {
    await core.close()
  }
}
