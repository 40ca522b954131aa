// Runs the `kurir` command in-process against a data folder, collecting what it prints.
import { main } from '../../src/cli/main.ts'

export const runKurir = async (dir: string, ...argv: string[]) => {
  const out: string[] = []
  const err: string[] = []
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), env: { DATA_DIR: dir } })
  return { code, out: out.join('\n'), err: err.join('\n') }
}
