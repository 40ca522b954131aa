// The operator's dashboard: a few static files, served as they are (no build step). The page itself is
// public; everything it shows comes from the API behind the same login as every other client.

import { readFileSync } from 'node:fs'
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { ApiEnv } from './deps.ts'

const ASSETS = [
  { path: '/', file: 'index.html', type: 'text/html; charset=utf-8', summary: 'The dashboard' },
  {
    path: '/dashboard/app.js',
    file: 'app.js',
    type: 'text/javascript; charset=utf-8',
    summary: "The dashboard's script",
  },
  {
    path: '/dashboard/style.css',
    file: 'style.css',
    type: 'text/css; charset=utf-8',
    summary: "The dashboard's styles",
  },
  {
    path: '/dashboard/favicon.svg',
    file: 'favicon.svg',
    type: 'image/svg+xml; charset=utf-8',
    summary: "The dashboard's icon",
  },
] as const

/**
 * Only this origin's scripts and connections; inline styles are allowed for the machine diagrams,
 * whose SVG carries its own `<style>`; images may be data URLs (the QR).
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const dashboardDir = new URL('../dashboard/', import.meta.url)

/**
 * @example
 * dashboardRoutes(app)
 */
export const dashboardRoutes = (app: OpenAPIHono<ApiEnv>) => {
  for (const asset of ASSETS) {
    // Read once at start: the files are small and never change while the process runs.
    const content = readFileSync(new URL(asset.file, dashboardDir), 'utf8')
    app.get(asset.path, (c) =>
      c.body(content, 200, {
        'Content-Type': asset.type,
        'Cache-Control': 'no-cache',
        'Content-Security-Policy': DASHBOARD_CSP,
      }),
    )
    app.openAPIRegistry.registerPath({
      method: 'get',
      path: asset.path,
      tags: ['dashboard'],
      summary: asset.summary,
      responses: { 200: { description: asset.file, content: { [asset.type.split(';')[0] ?? '']: {} } } },
    })
  }
}
