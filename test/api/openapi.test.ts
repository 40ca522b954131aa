import { validate } from '@readme/openapi-parser'
import { afterEach, describe, expect, it } from 'vitest'
import { SWAGGER_UI_VERSION } from '../../src/api/app.ts'
import { jsonOf, openTestApi } from '../support/api.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const opened: Awaited<ReturnType<typeof openTestApi>>[] = []
afterEach(async () => {
  for (const a of opened.splice(0)) await a.close()
})

/** `/api/jobs/:jobId` → `/api/jobs/{jobId}` */
const toOpenApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}')

describe('OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document by an independent validator', async () => {
    const api = await openTestApi(tempDir())
    opened.push(api)
    const res = await api.app.request('/openapi.json')
    expect(res.status).toBe(200)
    const doc = await jsonOf(res)
    expect(doc.openapi).toBe('3.1.0')
    const result = await validate(structuredClone(doc))
    expect(result).toMatchObject({ valid: true })
  })

  it('lists every route the app serves, with its method', async () => {
    const api = await openTestApi(tempDir())
    opened.push(api)
    const doc = await jsonOf(await api.app.request('/openapi.json'))
    const served = api.app.routes
      .filter((r) => r.method !== 'ALL' && !r.path.includes('*'))
      .map((r) => `${r.method.toLowerCase()} ${toOpenApiPath(r.path)}`)
    expect(served.length).toBeGreaterThan(5)
    const documented = new Set(
      Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) =>
        Object.keys(ops).map((m) => `${m} ${p}`),
      ),
    )
    for (const route of served) expect(documented).toContain(route)
  })

  it('serves Swagger UI at /docs', async () => {
    const api = await openTestApi(tempDir())
    opened.push(api)
    const res = await api.app.request('/docs')
    expect(res.status).toBe(200)
    const page = await res.text()
    expect(page).toContain('/openapi.json')
    // One fixed release, not whatever the CDN serves as the latest.
    expect(page).toContain(`swagger-ui-dist@${SWAGGER_UI_VERSION}/`)
  })
})
