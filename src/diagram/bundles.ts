// Sorts a machine's transitions by how a diagram draws them: lines inside a state, edges between (or
// looping on) the children of one container, or edges between a state and one of its own ancestors.
import type { MachineGraph, TransitionInfo } from './machine-graph.ts'
import { FONT, LINE, textWidth } from './text.ts'

/** The transitions from one state to one other, drawn as one line with a label line for each. */
export interface Bundle {
  source: string
  target: string
  /** The children of the container that hold the source and the target (the states themselves, or ancestors). */
  from: string
  to: string
  transitions: TransitionInfo[]
  labelWidth: number
  labelHeight: number
}

export interface Bundles {
  /** Transitions without a target, by source. */
  notes: Map<string, TransitionInfo[]>
  /** Edges (loops included) by the path of the container whose layout routes them ('' for the machine). */
  byContainer: Map<string, Bundle[]>
  /** Edges between a state and its ancestor or descendant, and loops on the machine itself. */
  direct: Bundle[]
}

export const LABEL_PAD = { x: 7, y: 2 } as const

const push = <K, V>(map: Map<K, V[]>, key: K, value: V) => {
  const list = map.get(key)
  if (list) list.push(value)
  else map.set(key, [value])
}

const segments = (path: string) => (path === '' ? [] : path.split('.'))

const sizeLabel = (lines: readonly string[]) => ({
  labelWidth: Math.max(0, ...lines.map((line) => textWidth(line, FONT.label))) + 2 * LABEL_PAD.x,
  labelHeight: lines.length * LINE.label + 2 * LABEL_PAD.y,
})

/**
 * @example
 * const { byContainer } = bundleTransitions(readMachine(sessionMachine))
 * byContainer.get('ready') // [{ source: 'ready.idle', target: 'ready.probing', … }, …]
 */
export const bundleTransitions = (graph: MachineGraph): Bundles => {
  const notes = new Map<string, TransitionInfo[]>()
  const grouped = new Map<string, TransitionInfo[]>()
  for (const t of graph.transitions) {
    if (t.targetless) push(notes, t.source, t)
    else push(grouped, `${t.source}>${t.target}`, t)
  }
  const byContainer = new Map<string, Bundle[]>()
  const direct: Bundle[] = []
  for (const transitions of grouped.values()) {
    const { source, target } = transitions[0]!
    const bundle = (from: string, to: string): Bundle => ({
      source,
      target,
      from,
      to,
      transitions,
      ...sizeLabel(transitions.map((t) => t.label)),
    })
    const s = segments(source)
    const t = segments(target)
    if (source === target && source !== '') {
      push(byContainer, s.slice(0, -1).join('.'), bundle(source, target))
      continue
    }
    let common = 0
    while (common < s.length && common < t.length && s[common] === t[common]) common++
    if (common === s.length || common === t.length) {
      direct.push(bundle(source, target))
      continue
    }
    const lift = (parts: string[]) => parts.slice(0, common + 1).join('.')
    push(byContainer, s.slice(0, common).join('.'), bundle(lift(s), lift(t)))
  }
  return { notes, byContainer, direct }
}
