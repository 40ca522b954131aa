// Lays out a whole machine: sizes every state from the inside out (a container around its children's
// layered layout), then places the boxes and draws the edges in the drawing's coordinates.
import type { AnyStateMachine } from 'xstate'
import { type Bundle, type Bundles, bundleTransitions } from './bundles.ts'
import { directPath, type EdgeLayout, edgePaths, type RoutedBundle } from './edge-geometry.ts'
import { type LayeredLayout, layeredLayout, type Rect, type Route } from './layered-layout.ts'
import {
  noteText,
  readMachine,
  type StateInfo,
  type StateKind,
  type TransitionInfo,
} from './machine-graph.ts'
import { FONT, LINE, num, textWidth } from './text.ts'

export type { EdgeLayout } from './edge-geometry.ts'
export type { Rect } from './layered-layout.ts'

export interface StateBox extends Rect {
  path: string
  key: string
  kind: StateKind
  /** A region of a parallel state. */
  region: boolean
  depth: number
  /** Transitions without a target, listed inside the box. */
  notes: TransitionInfo[]
}

/** The dot and arrow into a compound state's initial child. */
export interface InitialMark {
  parent: string
  x: number
  y: number
  d: string
}

export interface MachineLayout {
  id: string
  width: number
  height: number
  /** The machine's own box, around the top-level states, with the machine's own targetless transitions. */
  frame: StateBox
  /** Every state's box, in document order. */
  boxes: StateBox[]
  edges: EdgeLayout[]
  initials: InitialMark[]
}

/** Space around the frame, and where the heading stands above it. */
export const MARGIN = 16
export const HEADING = 28
/** Inner spacing of boxes: the padding of a container, and of a name or a line inside a box. */
export const PAD = { container: 14, name: 14, note: 10 } as const
const INITIAL_STRIP = 26
const MIN_WIDTH = 92
const ATOMIC_HEIGHT = 32
const TITLE_HEIGHT = 28

interface Block {
  state: StateInfo
  width: number
  height: number
  header: number
  inset: number
  notes: TransitionInfo[]
  children: Block[]
  bundles: Bundle[]
  layout: LayeredLayout | null
}

const sizeBlock = (state: StateInfo, bundles: Bundles): Block => {
  const notes = bundles.notes.get(state.path) ?? []
  const isRoot = state.path === ''
  const notesWidth = Math.max(0, ...notes.map((n) => textWidth(noteText(n), FONT.note))) + 2 * PAD.note
  const nameWidth = isRoot ? 0 : textWidth(state.key, FONT.state) + 2 * PAD.name
  const notesHeight = notes.length > 0 ? notes.length * LINE.note + 6 : 0
  const base = { state, notes, children: [], bundles: [], layout: null }
  if (state.children.length === 0) {
    const height = ATOMIC_HEIGHT + notesHeight + (state.kind === 'final' ? 4 : 0)
    const width = Math.max(MIN_WIDTH, nameWidth, notesWidth)
    return { ...base, width, height, header: 0, inset: 0 }
  }
  const children = state.children.map((child) => sizeBlock(child, bundles))
  const own = bundles.byContainer.get(state.path) ?? []
  const index = new Map(state.children.map((child, i) => [child.path, i]))
  const layout = layeredLayout(
    children.map(({ width, height }) => ({ width, height })),
    own.map((b) => ({
      from: index.get(b.from)!,
      to: index.get(b.to)!,
      labelWidth: b.labelWidth,
      labelHeight: b.labelHeight,
      labelKey: `${b.target}|${b.transitions.map((t) => t.label).join('\n')}`,
    })),
    { root: index.get(state.initial ?? '') ?? 0, parallel: state.kind === 'parallel' },
  )
  // A loop on the machine itself hangs inside the frame's top edge.
  const rootLoop = isRoot && bundles.direct.some((b) => b.source === '' && b.target === '')
  const header = Math.max((isRoot ? PAD.container : TITLE_HEIGHT) + notesHeight, rootLoop ? 34 : 0)
  const inset = PAD.container + (state.initial === null ? 0 : INITIAL_STRIP)
  const width = Math.max(nameWidth, notesWidth, inset + layout.width + PAD.container)
  return {
    ...base,
    width,
    height: header + layout.height + PAD.container,
    header,
    inset,
    children,
    bundles: own,
    layout,
  }
}

const moveRoute = (route: Route, dx: number, dy: number): Route => {
  const rect = (r: Rect): Rect => ({ ...r, x: r.x + dx, y: r.y + dy })
  if (route.kind === 'vertical') return { ...route, x: route.x + dx, label: rect(route.label) }
  if (route.kind === 'bend') {
    return { ...route, label: rect(route.label), fromX: route.fromX + dx, apexX: route.apexX + dx }
  }
  const via = route.via.map((v) => ({
    y: v.y + dy,
    left: v.left + dx,
    right: v.right + dx,
    label: v.label ? rect(v.label) : null,
  }))
  return { ...route, via, fromX: route.fromX + dx, toX: route.toX + dx }
}

/**
 * The boxes, edges and initial marks of a machine's diagram, in SVG user units.
 *
 * @example
 * const { boxes } = layoutMachine(sessionMachine)
 * boxes.find((b) => b.path === 'ready.idle') // { x: …, y: …, width: 92, height: 32, … }
 */
export const layoutMachine = (machine: AnyStateMachine): MachineLayout => {
  const graph = readMachine(machine)
  const bundles = bundleTransitions(graph)
  const root = sizeBlock(graph.root, bundles)
  const placed = new Map<string, StateBox>()
  const routed: RoutedBundle[] = []
  const initials: InitialMark[] = []
  const place = (block: Block, x: number, y: number) => {
    const { state } = block
    const { path, key, kind, region, depth } = state
    placed.set(path, {
      path,
      key,
      kind,
      region,
      depth,
      notes: block.notes,
      x,
      y,
      width: block.width,
      height: block.height,
    })
    const layout = block.layout
    if (!layout) return
    const ox = x + block.inset
    const oy = y + block.header
    block.children.forEach((child, i) => {
      const box = layout.boxes[i]!
      place(child, ox + box.x, oy + box.y)
    })
    block.bundles.forEach((bundle, i) => {
      routed.push({ bundle, route: moveRoute(layout.routes[i]!, ox, oy) })
    })
    const first = state.initial === null ? undefined : placed.get(state.initial)
    if (first) {
      const dot = { x: ox - INITIAL_STRIP + 6, y: first.y + first.height / 2 }
      initials.push({
        parent: path,
        ...dot,
        d: `M${num(dot.x + 4)},${num(dot.y)} L${num(first.x)},${num(dot.y)}`,
      })
    }
  }
  place(root, MARGIN, MARGIN + HEADING)
  const boxOf = (path: string) => {
    const box = placed.get(path)!
    return { box, depth: box.depth }
  }
  const edges = edgePaths(routed, boxOf)
  for (const bundle of bundles.direct) {
    const [inner, outer] =
      bundle.source.length > bundle.target.length
        ? [bundle.source, bundle.target]
        : [bundle.target, bundle.source]
    edges.push(directPath(bundle, placed.get(inner)!, placed.get(outer)!))
  }
  edges.sort((a, b) => a.bundle.transitions[0]!.index - b.bundle.transitions[0]!.index)
  const frame = placed.get('')!
  const boxes = [...placed.values()].filter((b) => b.path !== '')
  return {
    id: graph.id,
    width: frame.x + frame.width + MARGIN,
    height: frame.y + frame.height + MARGIN,
    frame,
    boxes,
    edges,
    initials,
  }
}
