#!/usr/bin/env node
// The `kurir` command. Kurir runs its TypeScript sources directly through tsx's loader.
import { register } from 'tsx/esm/api'

register()
// A reader that stops early (`kurir events export | head`) has what it asked for: stop quietly.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})
const { main } = await import('./main.ts')
process.exitCode = await main(process.argv.slice(2))
