import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { catalogueBlockOf } from '../../src/cli/write-event-catalogue.ts'
import { aggregates } from '../../src/core/aggregates.ts'
import { eventDescriptions, renderEventCatalogue } from '../../src/core/event-catalogue.ts'
import { eventSchemasOf } from '../../src/core/event-schemas.ts'

describe('the event catalogue', () => {
  it('in the README is the one generated from the schemas (npm run docs:events)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    expect(catalogueBlockOf(readme)).toBe(renderEventCatalogue().trim())
  })

  it('has a schema for exactly the event types each stream type lists', () => {
    for (const a of Object.values(aggregates))
      expect(Object.keys(eventSchemasOf[a.streamType]).sort()).toEqual([...a.eventTypes].sort())
  })

  it('describes every event type of every stream', () => {
    const types = Object.values(aggregates).flatMap((a) => [...a.eventTypes])
    expect(types.filter((t) => !eventDescriptions[t])).toEqual([])
    expect(Object.keys(eventDescriptions).sort()).toEqual([...types].sort())
  })
})
