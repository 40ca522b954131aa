import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type Aggregate, aggregates } from '../../src/core/aggregates.ts'
import type { Fact } from '../../src/core/command-handler.ts'
import { eventSchemasOf } from '../../src/core/event-schemas.ts'
import { createFolder, type Snapshot } from '../../src/core/fold.ts'
import { at, job, queue, session } from '../support/facts.ts'
import { foldFacts } from '../support/given.ts'

const machinesDir = join(import.meta.dirname, '../../machines')
const files = readdirSync(machinesDir).filter((f) => f.endsWith('.ts'))
const sourceOf = (file: string) => readFileSync(join(machinesDir, file), 'utf8')
/** The source without comments, so a comment that names a clock does not count as a call. */
const codeOf = (file: string) =>
  sourceOf(file)
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:'"`])\/\/.*$/gm, '$1')

const specifiersOf = (source: string): string[] => {
  const found: string[] = []
  const patterns = [
    /\bimport\s+(?:type\s+)?[^'"]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bexport\s+[^'"]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ]
  for (const re of patterns) for (const m of source.matchAll(re)) if (m[1]) found.push(m[1])
  return found
}

describe('machines: imports', () => {
  it('finds the machine sources', () => {
    expect(files).toEqual(
      expect.arrayContaining(['job-machine.ts', 'session-machine.ts', 'queue-machine.ts']),
    )
  })

  it.each(files)('%s imports only xstate and sibling machine files', (file) => {
    const specifiers = specifiersOf(sourceOf(file))
    for (const spec of specifiers) {
      if (spec === 'xstate') continue
      expect(spec, `${file} imports ${spec}`).toMatch(/^\.\/[\w-]+\.ts$/)
      expect(files, `${file} imports ${spec}`).toContain(spec.slice(2))
    }
  })

  it('sees every import form it checks for', () => {
    const sample = `import { a } from 'xstate'\nimport type { B } from './b.ts'\nexport { c } from '../c.ts'\nimport 'side'\nconst d = import('dyn')`
    expect(specifiersOf(sample)).toEqual(['xstate', './b.ts', '../c.ts', 'side', 'dyn'])
  })
})

describe('machines: no clock, no randomness', () => {
  it.each(files)('%s never calls Date.now, new Date or Math.random', (file) => {
    const code = codeOf(file)
    expect(code).not.toMatch(/\bDate\s*\.\s*now\b/)
    expect(code).not.toMatch(/\bnew\s+Date\b/)
    expect(code).not.toMatch(/\bMath\s*\.\s*random\b/)
    expect(code).not.toMatch(/\bperformance\s*\.\s*now\b/)
  })
})

const all = Object.values(aggregates)

/** Every delay a machine names: in `setup({ delays })`, and in any state's `after`. */
const delaysOf = (aggregate: Aggregate): { declared: string[]; used: string[] } => {
  const machine = aggregate.folder.machine
  const declared = Object.keys(machine.implementations.delays)
  const used: string[] = []
  type Node = { after?: { delay?: unknown }[]; states: Record<string, Node> }
  const walk = (node: Node) => {
    for (const t of node.after ?? []) if (typeof t.delay === 'string') used.push(t.delay)
    for (const child of Object.values(node.states)) walk(child)
  }
  walk(machine.root as unknown as Node)
  return { declared, used }
}

describe('machines: timers', () => {
  it.each(all.map((a) => [a.streamType, a] as const))(
    '%s: every declared delay has a timer fact',
    (_t, a) => {
      const { declared } = delaysOf(a)
      expect(declared.length).toBeGreaterThan(0)
      expect(Object.keys(a.timerFacts).sort()).toEqual([...declared].sort())
    },
  )

  it.each(all.map((a) => [a.streamType, a] as const))('%s: every after names a declared delay', (_t, a) => {
    const { declared, used } = delaysOf(a)
    expect(used.length).toBeGreaterThan(0)
    for (const delay of used) expect(declared).toContain(delay)
  })

  it.each(all.map((a) => [a.streamType, a] as const))('%s: every timer fact type has a schema', (_t, a) => {
    for (const [delay, type] of Object.entries(a.timerFacts)) {
      const schema = eventSchemasOf[a.streamType][type]
      expect(schema, `${type} (for ${delay})`).toBeDefined()
      expect(schema?.safeParse({ timer: delay, dueAt: at(), at: at() }).success).toBe(true)
    }
  })
})

// Facts that run each machine through most of its states, timers included.
const histories: [Aggregate, Fact[]][] = [
  [
    aggregates.job,
    [
      job.queued({ sendAt: at(10_000) }),
      job.due({ at: at(10_000) }),
      job.started(1, { at: at(10_100) }),
      job.failed(1, { retryable: true }, { jitter: 0.37, at: at(10_200) }),
      job.due({ at: at(12_000) }),
      job.started(2),
      job.interrupted(2, false),
      job.retryRequested(),
      job.started(1),
      job.sent(1),
    ],
  ],
  [
    aggregates.session,
    [
      session.created(),
      session.startRequested(),
      session.qrIssued(),
      session.authenticated(),
      session.ready(),
      session.keepaliveDue(),
      session.probeTimedOut(),
      session.engineStopped(0.91),
      session.restartDue(),
      session.disconnected('NAVIGATION', 0.12),
      session.configured({ restartMaxMs: 9_000 }),
      session.resetRequested(),
      session.ready(),
    ],
  ],
  [
    aggregates.queue,
    [
      queue.configured({ concurrency: 2 }),
      queue.paused(),
      queue.cooldownStarted(),
      queue.cooldownEnded(),
      queue.resumed(),
      queue.cleared(3),
    ],
  ],
]

const shape = (snapshot: Snapshot) => ({
  value: snapshot.value,
  context: snapshot.context,
  status: snapshot.status,
})

describe('machines: folding is deterministic', () => {
  it.each(histories.map(([a, facts]) => [a.streamType, a, facts] as const))(
    '%s: folding the same facts twice gives deep-equal snapshots',
    (_t, a, facts) => {
      expect(shape(foldFacts(a, facts))).toEqual(shape(foldFacts(a, facts)))
    },
  )

  it.each(histories.map(([a, facts]) => [a.streamType, a, facts] as const))(
    '%s: a fresh folder gives the same snapshot as the shared one',
    (_t, a, facts) => {
      const fresh = { ...a, folder: createFolder(a.folder.machine, a.timerFacts) }
      expect(shape(foldFacts(fresh, facts))).toEqual(shape(foldFacts(a, facts)))
    },
  )

  it.each(histories.map(([a, facts]) => [a.streamType, a, facts] as const))(
    '%s: any sequence of its facts folds the same twice',
    (_t, a, facts) => {
      const pick = fc.array(fc.constantFrom(...facts), { maxLength: 30 })
      fc.assert(
        fc.property(pick, (sequence) => {
          const fold = () => {
            let snapshot = a.folder.initial
            for (const f of sequence) snapshot = a.folder.step(snapshot, f.type, f.data).after
            return shape(snapshot)
          }
          expect(fold()).toEqual(fold())
        }),
      )
    },
  )
})
