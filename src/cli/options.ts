// The options of a `kurir` command, read strictly: an unknown option or one given twice is bad input,
// never a guess (`user remove --email a@… --email b@…` would otherwise remove b without a word).
import { type ParseArgsConfig, parseArgs } from 'node:util'
import { ValidationError } from '../errors.ts'

type Options = NonNullable<ParseArgsConfig['options']>

/**
 * @example
 * const { values } = readOptions(['--email', 'a@example.com'], { email: { type: 'string' } })
 */
export const readOptions = <const O extends Options>(
  args: string[],
  options: O,
  { positionals = false }: { positionals?: boolean } = {},
) => {
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: boolean; tokens: true }>
  >
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: positionals, tokens: true })
  } catch (err) {
    throw new ValidationError((err as Error).message)
  }
  const seen = new Set<string>()
  for (const token of parsed.tokens) {
    if (token.kind !== 'option') continue
    if (seen.has(token.name)) throw new ValidationError(`--${token.name} is given more than once`)
    seen.add(token.name)
  }
  return { values: parsed.values, positionals: parsed.positionals }
}
