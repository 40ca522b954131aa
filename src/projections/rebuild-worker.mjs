// Entry of a rebuild worker thread: Kurir's sources are TypeScript, so register tsx's loader first.
import { register } from 'tsx/esm/api'

register()
await import('./rebuild-worker.ts')
