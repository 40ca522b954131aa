// Draws any XState machine as an SVG state diagram, from the machine's own definition.
import type { AnyStateMachine } from 'xstate'
import { LABEL_PAD } from './bundles.ts'
import { diagramStyle } from './diagram-style.ts'
import type { EdgeLayout } from './edge-geometry.ts'
import { layoutMachine, MARGIN, type MachineLayout, PAD, type StateBox } from './layout-machine.ts'
import { noteText, type TransitionInfo } from './machine-graph.ts'
import { escapeXml, LINE, num } from './text.ts'

export { activePaths } from './active-paths.ts'
export { layoutMachine, type MachineLayout, type StateBox } from './layout-machine.ts'
export { statePaths } from './machine-graph.ts'

export interface DiagramOptions {
  /** The heading drawn above the machine; the machine's id when left out. */
  title?: string
}

type Attrs = Record<string, string | number>

const attrs = (values: Attrs) =>
  Object.entries(values)
    .map(([name, value]) => ` ${name}="${typeof value === 'number' ? num(value) : escapeXml(value)}"`)
    .join('')
const el = (name: string, values: Attrs, content?: string) =>
  content === undefined ? `<${name}${attrs(values)}/>` : `<${name}${attrs(values)}>${content}</${name}>`
const rect = (box: { x: number; y: number; width: number; height: number }, values: Attrs = {}) =>
  el('rect', { ...values, x: box.x, y: box.y, width: box.width, height: box.height, rx: 6 })

const transitionAttrs = (t: TransitionInfo, extra: string): Attrs => ({
  class: `transition${extra}`,
  'data-source': t.source,
  'data-target': t.target,
  'data-event': t.event,
  ...(t.delay === null ? {} : { 'data-delay': t.delay }),
})

/** Targetless transitions, one line each, centred in a simple state and left-aligned in a container. */
const notes = (box: StateBox, firstBaseline: number) => {
  const centred = box.kind !== 'compound' && box.kind !== 'parallel'
  const x = centred ? box.x + box.width / 2 : box.x + PAD.note
  return box.notes.map((t, i) =>
    el(
      'g',
      transitionAttrs(t, ' note'),
      el(
        'text',
        { class: 'note', x, y: firstBaseline + i * LINE.note, 'text-anchor': centred ? 'middle' : 'start' },
        escapeXml(noteText(t)),
      ),
    ),
  )
}

const stateGroup = (box: StateBox, layout: MachineLayout, children: Map<string, StateBox[]>): string => {
  const container = box.kind === 'compound' || box.kind === 'parallel'
  const parts = [rect(box)]
  if (box.kind === 'final') {
    parts.push(
      rect({ x: box.x + 4, y: box.y + 4, width: box.width - 8, height: box.height - 8 }, { class: 'inner' }),
    )
  }
  const nameAt = container
    ? { x: box.x + 12, anchor: 'start' }
    : { x: box.x + box.width / 2, anchor: 'middle' }
  const nameY = box.y + (box.kind === 'final' ? 22 : 20)
  parts.push(
    el('text', { class: 'name', x: nameAt.x, y: nameY, 'text-anchor': nameAt.anchor }, escapeXml(box.key)),
  )
  parts.push(...notes(box, nameY + (container ? 19 : 22)))
  parts.push(...initialMarks(layout, box.path))
  for (const child of children.get(box.path) ?? []) parts.push(stateGroup(child, layout, children))
  const kind = `state ${box.kind}${box.region ? ' region' : ''}`
  return el('g', { class: kind, 'data-state': box.path }, parts.join(''))
}

const initialMarks = (layout: MachineLayout, parent: string) =>
  layout.initials
    .filter((mark) => mark.parent === parent)
    .map(
      (mark) =>
        el('circle', { class: 'initial-dot', cx: mark.x, cy: mark.y, r: 4.5 }) +
        el('path', {
          class: 'initial-arrow',
          d: mark.d,
          'marker-end': `url(#${markerId(layout, 'initial')})`,
        }),
    )

/** One group per transition: the edge's path (drawn once, the others kept for highlighting) and a label line. */
const edgeGroups = (edge: EdgeLayout, layout: MachineLayout) => {
  const { bundle, d, label, primary } = edge
  const twin = primary ? '' : ' twin'
  const self = bundle.source === bundle.target ? ' self' : ''
  return bundle.transitions.map((t, i) => {
    const top = label.y + LABEL_PAD.y + i * LINE.label
    const line = { x: label.x, y: top, width: label.width, height: LINE.label }
    return el(
      'g',
      transitionAttrs(t, self),
      el('path', {
        class: i === 0 ? 'edge' : 'edge twin',
        d,
        ...(i === 0 ? { 'marker-end': `url(#${markerId(layout, 'arrow')})` } : {}),
      }) +
        el('rect', {
          class: `label-bg${twin}`,
          x: line.x,
          y: line.y,
          width: line.width,
          height: line.height,
        }) +
        el(
          'text',
          {
            class: `label${twin}`,
            x: label.x + label.width / 2,
            y: top + LINE.label - 3.5,
            'text-anchor': 'middle',
          },
          escapeXml(t.label),
        ),
    )
  })
}

const safeId = (layout: MachineLayout) => layout.id.replace(/[^A-Za-z0-9_-]/g, '_')
const markerId = (layout: MachineLayout, name: string) => `${safeId(layout)}-${name}`

const marker = (id: string, cls: string) =>
  el(
    'marker',
    { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' },
    el('path', { class: `arrowhead${cls}`, d: 'M0,1 L10,5 L0,9 z' }),
  )

/**
 * The machine's state diagram as an SVG document: every state a `g.state[data-state]`, every transition a
 * `g.transition[data-source][data-target][data-event]`. The same machine always gives the same text.
 *
 * @example
 * const svg = machineDiagram(sessionMachine, { title: 'session machine' })
 * // a page marks the active states: g.state[data-state="ready"] gets the class `active`
 */
export const machineDiagram = (machine: AnyStateMachine, options: DiagramOptions = {}): string => {
  const layout = layoutMachine(machine)
  const title = options.title ?? layout.id
  const children = new Map<string, StateBox[]>()
  for (const box of layout.boxes) {
    const parent = box.path.includes('.') ? box.path.slice(0, box.path.lastIndexOf('.')) : ''
    children.set(parent, [...(children.get(parent) ?? []), box])
  }
  const scope = `.machine-diagram[data-machine="${safeId(layout)}"]`
  const css = diagramStyle(scope, markerId(layout, 'taken')).replace(/&/g, '&amp;').replace(/</g, '&lt;')
  const frame = layout.frame
  const machineGroup = el(
    'g',
    { class: 'machine', 'data-machine': layout.id },
    [
      rect(frame, { class: 'frame' }),
      ...notes(frame, frame.y + 22),
      ...initialMarks(layout, ''),
      ...(children.get('') ?? []).map((box) => stateGroup(box, layout, children)),
    ].join(''),
  )
  const body = [
    el('title', {}, escapeXml(title)),
    el('style', {}, css),
    el(
      'defs',
      {},
      marker(markerId(layout, 'arrow'), '') +
        marker(markerId(layout, 'taken'), ' taken') +
        marker(markerId(layout, 'initial'), ' initial'),
    ),
    el('text', { class: 'heading', x: MARGIN, y: MARGIN + 14 }, escapeXml(title)),
    machineGroup,
    el('g', { class: 'transitions' }, layout.edges.flatMap((edge) => edgeGroups(edge, layout)).join('')),
  ]
  const size = { width: Math.ceil(layout.width), height: Math.ceil(layout.height) }
  return el(
    'svg',
    {
      xmlns: 'http://www.w3.org/2000/svg',
      class: 'machine-diagram',
      'data-machine': safeId(layout),
      viewBox: `0 0 ${size.width} ${size.height}`,
      width: size.width,
      height: size.height,
      role: 'img',
      'aria-label': title,
    },
    `\n${body.join('\n')}\n`,
  )
}
