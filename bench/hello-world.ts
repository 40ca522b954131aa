// The baseline for bench:http: a bare Hono app on @hono/node-server answering one small JSON.
import { serve } from '@hono/node-server'
import { Hono } from 'hono'

const app = new Hono()
app.get('/', (c) => c.json({ hello: 'world' }))
serve({ fetch: app.fetch, port: Number(process.env['PORT']), hostname: '127.0.0.1' }, (info) => {
  process.stdout.write(`ready ${info.port}\n`)
})
