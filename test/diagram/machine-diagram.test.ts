// The machine diagrams: every state, event and delay drawn from the definition, as well-formed SVG whose
// boxes neither overlap nor leave their parents.
import { mkdirSync, writeFileSync } from 'node:fs'
import { DOMParser, type Element } from '@xmldom/xmldom'
import { beforeAll, describe, expect, it } from 'vitest'
import { type AnyStateMachine, type AnyStateNode, createMachine } from 'xstate'
import { jobMachine } from '../../machines/job-machine.ts'
import { queueMachine } from '../../machines/queue-machine.ts'
import { sessionMachine } from '../../machines/session-machine.ts'
import {
  activePaths,
  layoutMachine,
  machineDiagram,
  type StateBox,
  statePaths,
} from '../../src/diagram/machine-diagram.ts'
import { noteText } from '../../src/diagram/machine-graph.ts'
import { FONT, textWidth } from '../../src/diagram/text.ts'
import { sampleMachine } from './sample-machine.ts'

const machines: [string, AnyStateMachine][] = [
  ['job', jobMachine],
  ['session', sessionMachine],
  ['queue', queueMachine],
  ['sample', sampleMachine],
]

const parse = (svg: string) => {
  const problems: string[] = []
  const doc = new DOMParser({
    onError: (level, message) => problems.push(`${level}: ${message}`),
  }).parseFromString(svg, 'image/svg+xml')
  return { doc, problems }
}

const elements = (root: { getElementsByTagName(name: string): ArrayLike<Element> }, name: string) =>
  Array.from(root.getElementsByTagName(name))
const withClass = (list: Element[], cls: string) =>
  list.filter((e) => (e.getAttribute('class') ?? '').split(' ').includes(cls))
const childText = (e: Element, cls: string) =>
  elements(e, 'text')
    .filter((t) => t.parentNode === e && withClass([t], cls).length === 1)
    .map((t) => t.textContent)

/** What the definition says, read from each state's own config (not from the diagram's reading of it). */
const declared = (machine: AnyStateMachine) => {
  const events = new Set<string>()
  const delays = new Set<string>()
  let always = false
  const walk = (node: AnyStateNode) => {
    for (const event of Object.keys(node.config.on ?? {})) events.add(event)
    for (const delay of Object.keys(node.config.after ?? {})) delays.add(delay)
    if (node.config.always) always = true
    for (const child of Object.values(node.states) as AnyStateNode[]) walk(child)
  }
  walk(machine.root)
  return { events, delays, always }
}

const overlaps = (a: StateBox | DOMRectLike, b: StateBox | DOMRectLike) =>
  a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
type DOMRectLike = { x: number; y: number; width: number; height: number }
const parentOf = (path: string) => (path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '')

beforeAll(() => mkdirSync('test-results/diagrams', { recursive: true }))

describe.each(machines)('the %s machine diagram', (name, machine) => {
  const svg = machineDiagram(machine, { title: `${name} machine` })
  const { doc, problems } = parse(svg)
  const groups = elements(doc, 'g')
  const states = withClass(groups, 'state')
  const transitions = withClass(groups, 'transition')

  it('is a well-formed SVG document with a namespace, a view box and a size', () => {
    writeFileSync(`test-results/diagrams/${name}.svg`, svg)
    expect(problems).toEqual([])
    const root = doc.documentElement!
    expect(svg.startsWith('<svg')).toBe(true)
    expect(root.getAttribute('xmlns')).toBe('http://www.w3.org/2000/svg')
    expect(root.getAttribute('viewBox')).toMatch(/^0 0 \d+ \d+$/)
    expect(Number(root.getAttribute('width'))).toBeGreaterThan(0)
    expect(Number(root.getAttribute('height'))).toBeGreaterThan(0)
    expect(elements(doc, 'title')[0]?.textContent).toBe(`${name} machine`)
  })

  it('draws every state once, as a g.state with its box and its name', () => {
    const drawn = states.map((g) => g.getAttribute('data-state'))
    expect([...drawn].sort()).toEqual([...statePaths(machine)].sort())
    for (const g of states) {
      expect(elements(g, 'rect')[0]?.parentNode).toBe(g)
      expect(childText(g, 'name')).toEqual([g.getAttribute('data-state')!.split('.').pop()])
    }
  })

  it('labels every event the machine accepts, every delay as after <name>, and eventless ones as always', () => {
    const { events, delays, always } = declared(machine)
    const drawnEvents = new Set(transitions.map((g) => g.getAttribute('data-event')))
    const labels = transitions.flatMap((g) => elements(g, 'text').map((t) => t.textContent ?? ''))
    for (const event of events) {
      expect(drawnEvents, event).toContain(event)
      expect(
        labels.some((l) => l.startsWith(event)),
        event,
      ).toBe(true)
    }
    for (const delay of delays) {
      const name = /^\d+$/.test(delay) ? `${delay}ms` : delay
      expect(
        labels.some((l) => l === `after ${name}` || l.startsWith(`after ${name} `)),
        delay,
      ).toBe(true)
    }
    expect(labels.some((l) => l.startsWith('always'))).toBe(always)
  })

  it('gives every edge a path with an arrowhead and every targetless transition a line inside its state', () => {
    for (const g of transitions) {
      const paths = elements(g, 'path')
      if (withClass([g], 'note').length === 1) {
        expect(g.getAttribute('data-target')).toBe('')
        expect(paths).toEqual([])
        const source = g.getAttribute('data-source')!
        const owner =
          source === ''
            ? withClass(groups, 'machine')[0]
            : states.find((s) => s.getAttribute('data-state') === source)
        expect(g.parentNode).toBe(owner)
      } else {
        expect(paths).toHaveLength(1)
        expect(paths[0]!.getAttribute('d')).toMatch(/^M[\d.-]+,[\d.-]+ [CL]/)
        expect(elements(g, 'text')).toHaveLength(1)
      }
    }
    const arrows = elements(doc, 'path').filter((p) =>
      (p.getAttribute('marker-end') ?? '').startsWith('url(#'),
    )
    expect(arrows.length).toBeGreaterThan(0)
  })

  it('keeps sibling boxes apart and every child inside its parent, below its name and lines', () => {
    const { boxes, frame, width, height } = layoutMachine(machine)
    expect(boxes.map((b) => b.path)).toEqual(statePaths(machine))
    const byPath = new Map<string, StateBox>([['', frame], ...boxes.map((b) => [b.path, b] as const)])
    for (const box of boxes) {
      const parent = byPath.get(parentOf(box.path))!
      const header = parent === frame ? 0 : 26
      expect(box.x, box.path).toBeGreaterThanOrEqual(parent.x)
      expect(box.y, box.path).toBeGreaterThanOrEqual(parent.y + header + 13 * parent.notes.length)
      expect(box.x + box.width, box.path).toBeLessThanOrEqual(parent.x + parent.width)
      expect(box.y + box.height, box.path).toBeLessThanOrEqual(parent.y + parent.height)
      for (const other of boxes) {
        if (other !== box && parentOf(other.path) === parentOf(box.path)) {
          expect(overlaps(box, other), `${box.path} and ${other.path}`).toBe(false)
        }
      }
    }
    expect(frame.x + frame.width).toBeLessThanOrEqual(width)
    expect(frame.y + frame.height).toBeLessThanOrEqual(height)
  })

  it('sizes every box to hold its name and the lines listed in it', () => {
    for (const box of layoutMachine(machine).boxes) {
      expect(textWidth(box.key, FONT.state), box.path).toBeLessThanOrEqual(box.width - 16)
      for (const note of box.notes) {
        expect(textWidth(noteText(note), FONT.note), noteText(note)).toBeLessThanOrEqual(box.width - 16)
      }
    }
  })

  it('puts no edge label over a state or over another label', () => {
    const { boxes, edges } = layoutMachine(machine)
    const labels = edges.filter((e) => e.primary)
    for (const edge of labels) {
      const { source, target } = edge.bundle
      for (const box of boxes) {
        const holds = (path: string) => path === box.path || path.startsWith(`${box.path}.`)
        if (holds(source) || holds(target)) continue
        expect(overlaps(edge.label, box), `${edge.bundle.transitions[0]!.label} over ${box.path}`).toBe(false)
      }
      for (const other of labels) {
        if (other !== edge)
          expect(overlaps(edge.label, other.label), other.bundle.transitions[0]!.label).toBe(false)
      }
    }
  })

  it('draws final states with a double border and an initial dot in every compound state', () => {
    const finals = states.filter((g) => withClass([g], 'final').length === 1)
    for (const g of finals) expect(elements(g, 'rect').filter((r) => r.parentNode === g)).toHaveLength(2)
    const compounds = withClass(states, 'compound').length + (machine.root.type === 'compound' ? 1 : 0)
    expect(withClass(elements(doc, 'circle'), 'initial-dot')).toHaveLength(compounds)
  })

  it('gives the same text for the same machine', () => {
    expect(machineDiagram(machine, { title: `${name} machine` })).toBe(svg)
  })
})

describe('machineDiagram', () => {
  it('styles active states and taken transitions with classes only', () => {
    const svg = machineDiagram(sessionMachine)
    const style = elements(parse(svg).doc, 'style')[0]?.textContent ?? ''
    expect(style).toContain('.state.active > rect {')
    expect(style).toContain('.transition.taken > .edge {')
    expect(svg).not.toMatch(/ (fill|stroke)="#/)
  })

  it('draws the session keepalive, its loop on `starting` and its always transitions', () => {
    const svg = machineDiagram(sessionMachine)
    const transitions = withClass(elements(parse(svg).doc, 'g'), 'transition')
    const find = (source: string, target: string) =>
      transitions.filter(
        (g) => g.getAttribute('data-source') === source && g.getAttribute('data-target') === target,
      )
    const keepalive = find('ready.idle', 'ready.probing')[0]!
    expect(keepalive.getAttribute('data-event')).toBe('xstate.after.keepalive.session.ready.idle')
    expect(keepalive.getAttribute('data-delay')).toBe('keepalive')
    expect(find('starting', 'starting').map((g) => elements(g, 'text')[0]?.textContent)).toEqual([
      'SessionResetRequested',
      'SessionResumed',
    ])
    expect(find('failing', 'restarting').map((g) => elements(g, 'text')[0]?.textContent)).toEqual([
      'always [mayRestart]',
    ])
    expect(find('failing', 'failed').map((g) => g.getAttribute('data-event'))).toEqual([''])
    expect(find('stopped', '').map((g) => elements(g, 'text')[0]?.textContent)).toEqual([
      'SessionConfigured / applyConfig, touch',
    ])
  })

  it('escapes XML special characters in names, events and the title', () => {
    const machine = createMachine({
      id: 'odd<&>',
      initial: 'a&b',
      states: { 'a&b': { on: { 'GO<"now">': "c'd" } }, "c'd": { type: 'final' } },
    })
    const svg = machineDiagram(machine, { title: 'Tom & "Jerry"' })
    const { doc, problems } = parse(svg)
    expect(problems).toEqual([])
    const states = withClass(elements(doc, 'g'), 'state').map((g) => g.getAttribute('data-state'))
    expect(states).toEqual(['a&b', "c'd"])
    const edge = withClass(elements(doc, 'g'), 'transition')[0]!
    expect(edge.getAttribute('data-event')).toBe('GO<"now">')
    expect(elements(edge, 'text')[0]?.textContent).toBe('GO<"now">')
    expect(elements(doc, 'title')[0]?.textContent).toBe('Tom & "Jerry"')
  })
})

describe('activePaths', () => {
  it('gives a simple state value as one path', () => {
    expect(activePaths('stopped')).toEqual(['stopped'])
  })

  it('gives a nested value as the compound state and its child', () => {
    expect(activePaths({ ready: 'idle' })).toEqual(['ready', 'ready.idle'])
    expect(activePaths({ a: { b: 'c' } })).toEqual(['a', 'a.b', 'a.b.c'])
  })

  it('gives a parallel value as every region and its active child', () => {
    expect(activePaths({ flow: 'running', pace: 'cooling' })).toEqual([
      'flow',
      'flow.running',
      'pace',
      'pace.cooling',
    ])
  })

  it('names only states the diagram draws', () => {
    const paths = new Set(statePaths(queueMachine))
    const snapshot = queueMachine.resolveState({
      value: { flow: 'paused', pace: 'normal' },
      context: {} as never,
    })
    for (const path of activePaths(snapshot.value)) expect(paths).toContain(path)
  })
})
