// Turns routed edges into SVG paths: spreads the ends that meet one side of a box along it (ordered by
// where each edge heads, so they do not cross there), then joins the points with smooth curves.
import type { Bundle } from './bundles.ts'
import type { Rect, Route } from './layered-layout.ts'
import { num } from './text.ts'

export interface EdgeLayout {
  bundle: Bundle
  /** The path's `d`, from the source's border to the target's. */
  d: string
  label: Rect
  /** False when another edge shows the same label (shown here only when this edge is highlighted). */
  primary: boolean
}

export interface RoutedBundle {
  bundle: Bundle
  /** In the drawing's coordinates. */
  route: Route
}

type Side = 'left' | 'right' | 'top' | 'bottom'

/**
 * A point a path passes through and the direction it travels there; `flat` joins it to the last point
 * straight, `jump` leaves a gap (where a label stands); `tick` draws a short line from the point across
 * to that x (to a label beside the path).
 */
interface Step {
  x: number
  y: number
  dx: number
  dy: number
  flat?: boolean
  jump?: boolean
  tick?: number
}

interface Port {
  box: Rect
  depth: number
  side: Side
  /** Whether the edge leaves the box here (else it arrives). */
  out: boolean
  toward: () => number
  order: number
  y: number
}

const OUTWARD: Record<Side, readonly [number, number]> = {
  left: [-1, 0],
  right: [1, 0],
  top: [0, -1],
  bottom: [0, 1],
}
const PORT_STEP = 12
const BEND_RADIUS = 10

const leaving = (x: number, y: number, side: Side): Step => ({
  x,
  y,
  dx: OUTWARD[side][0],
  dy: OUTWARD[side][1],
})
const arriving = (x: number, y: number, side: Side): Step => ({
  x,
  y,
  dx: -OUTWARD[side][0],
  dy: -OUTWARD[side][1],
})
const sideX = (box: Rect, side: Side) => (side === 'left' ? box.x : box.x + box.width)
const sideY = (box: Rect, side: Side) => (side === 'top' ? box.y : box.y + box.height)
const clamp = (v: number, low: number, high: number) => Math.min(high, Math.max(low, v))

/** Smooth curves through the steps: each leaves and reaches its points in their direction of travel. */
const pathData = (steps: readonly Step[]): string => {
  const first = steps[0]
  if (!first) return ''
  const parts = [`M${num(first.x)},${num(first.y)}`]
  for (let i = 1; i < steps.length; i++) {
    const a = steps[i - 1]!
    const b = steps[i]!
    if (b.flat || b.jump) {
      parts.push(`${b.jump ? 'M' : 'L'}${num(b.x)},${num(b.y)}`)
    } else {
      const vx = b.x - a.x
      const vy = b.y - a.y
      const ka = Math.max(4, Math.abs(vx * a.dx + vy * a.dy) / 2)
      const kb = Math.max(4, Math.abs(vx * b.dx + vy * b.dy) / 2)
      parts.push(
        `C${num(a.x + a.dx * ka)},${num(a.y + a.dy * ka)} ${num(b.x - b.dx * kb)},${num(b.y - b.dy * kb)} ${num(b.x)},${num(b.y)}`,
      )
    }
    if (b.tick !== undefined) parts.push(`L${num(b.tick)},${num(b.y)} M${num(b.x)},${num(b.y)}`)
  }
  return parts.join(' ')
}

/** Where an edge heads first after leaving its source, and last before its target (for ordering ports). */
const headings = (route: Route): [number, number] => {
  if (route.kind === 'vertical') return [0, 0]
  if (route.kind === 'bend')
    return [route.label.y + route.label.height / 2, route.label.y + route.label.height / 2]
  return [route.via[0]?.y ?? 0, route.via[route.via.length - 1]?.y ?? 0]
}

/** Steps between the two ports of a chain or a bend, the ports included. */
const routeSteps = (route: Route, from: Step, to: Step): Step[] => {
  const steps = [from]
  const flatTo = (x: number, y: number, dx: number) => {
    if (Math.abs(x - steps[steps.length - 1]!.x) > 0.5) steps.push({ x, y, dx, dy: 0, flat: true })
  }
  if (route.kind === 'bend') {
    // Out to the lane, along it (a tick across to the label on the way), and back.
    const { label, fromX, apexX } = route
    const dy = to.y < from.y ? -1 : 1
    const r = Math.min(BEND_RADIUS, Math.abs(to.y - from.y) / 2)
    flatTo(fromX, from.y, 1)
    steps.push({ x: apexX, y: from.y + dy * r, dx: 0, dy })
    steps.push({ x: apexX, y: label.y + label.height / 2, dx: 0, dy, flat: true, tick: label.x })
    steps.push({ x: apexX, y: to.y - dy * r, dx: 0, dy, flat: true })
    steps.push({ x: fromX, y: to.y, dx: -1, dy: 0 })
  } else if (route.kind === 'chain') {
    const dx = route.forward ? 1 : -1
    flatTo(route.fromX, from.y, dx)
    for (const via of route.via) {
      const [entry, exit] = route.forward ? [via.left, via.right] : [via.right, via.left]
      steps.push({ x: entry, y: via.y, dx, dy: 0 })
      if (via.label) {
        const [near, far] = route.forward
          ? [via.label.x, via.label.x + via.label.width]
          : [via.label.x + via.label.width, via.label.x]
        flatTo(near, via.y, dx)
        steps.push({ x: far, y: via.y, dx, dy: 0, jump: true })
      }
      flatTo(exit, via.y, dx)
    }
    steps.push({ x: route.toX, y: to.y, dx, dy: 0 })
  }
  const last = steps[steps.length - 1]!
  if (Math.abs(last.x - to.x) > 0.5) steps.push({ ...to, flat: true })
  else steps[steps.length - 1] = to
  return steps
}

const sidesOf = (route: Route): [Side, Side] => {
  if (route.kind === 'bend') return ['right', 'right']
  if (route.kind === 'vertical') return route.down ? ['bottom', 'top'] : ['top', 'bottom']
  return route.forward ? ['right', 'left'] : ['left', 'right']
}

const labelOf = (route: Route): Rect => {
  if (route.kind !== 'chain') return route.label
  const via = route.via.find((v) => v.label) ?? route.via[0]
  return via?.label ?? { x: 0, y: 0, width: 0, height: 0 }
}

/**
 * The paths of edges routed by their containers' layouts. `boxOf` gives a state's box and depth; an edge
 * whose end lies inside a child state runs from that inner box to the child's border and on from there.
 */
export const edgePaths = (
  routed: readonly RoutedBundle[],
  boxOf: (path: string) => { box: Rect; depth: number },
): EdgeLayout[] => {
  const ports: Port[] = []
  const request = (path: string, side: Side, out: boolean, toward: () => number): Port => {
    const { box, depth } = boxOf(path)
    const port = { box, depth, side, out, toward, order: ports.length, y: box.y + box.height / 2 }
    ports.push(port)
    return port
  }
  const plans = routed.map(({ bundle, route }) => {
    const [out, into] = sidesOf(route)
    const [first, last] = headings(route)
    if (route.kind === 'vertical') return { bundle, route, out, into, ends: null }
    const from = request(bundle.from, out, true, () => first)
    const to = request(bundle.to, into, false, () => last)
    const innerFrom = bundle.source === bundle.from ? null : request(bundle.source, out, true, () => from.y)
    const innerTo = bundle.target === bundle.to ? null : request(bundle.target, into, false, () => to.y)
    return { bundle, route, out, into, ends: { from, to, innerFrom, innerTo } }
  })
  spreadPorts(ports)
  return plans.map(({ bundle, route, out, into, ends }) => {
    const steps: Step[] = []
    if (ends === null) {
      // A vertical edge: straight between the two boxes, bent only where an end lies deeper inside.
      const x = route.kind === 'vertical' ? route.x : 0
      const end = (path: string, side: Side) => {
        const { box } = boxOf(path)
        return { x: clamp(x, box.x + 8, box.x + box.width - 8), y: sideY(box, side) }
      }
      const inner = end(bundle.source, out)
      if (bundle.source !== bundle.from) steps.push(leaving(inner.x, inner.y, out))
      steps.push(leaving(x, sideY(boxOf(bundle.from).box, out), out))
      steps.push({ ...arriving(x, sideY(boxOf(bundle.to).box, into), into), flat: true })
      const target = end(bundle.target, into)
      if (bundle.target !== bundle.to) steps.push(arriving(target.x, target.y, into))
    } else {
      const { from, to, innerFrom, innerTo } = ends
      if (innerFrom) steps.push(leaving(sideX(innerFrom.box, out), innerFrom.y, out))
      const start = leaving(sideX(from.box, out), from.y, out)
      steps.push(...routeSteps(route, start, arriving(sideX(to.box, into), to.y, into)))
      if (innerTo) steps.push(arriving(sideX(innerTo.box, into), innerTo.y, into))
    }
    return {
      bundle,
      d: pathData(steps),
      label: labelOf(route),
      primary: route.kind !== 'chain' || route.primary,
    }
  })
}

/**
 * Places the ports on each box side, outer boxes first (inner ends follow them): the edges leaving a side
 * start from one point and the edges arriving end in one, so a busy state reads as a few bundles.
 */
const spreadPorts = (ports: Port[]) => {
  const groups = new Map<Rect, Map<Side, Port[]>>()
  for (const port of ports) {
    const sides = groups.get(port.box) ?? new Map<Side, Port[]>()
    sides.set(port.side, [...(sides.get(port.side) ?? []), port])
    groups.set(port.box, sides)
  }
  const ordered = [...groups.values()].flatMap((sides) => [...sides.values()])
  ordered.sort((a, b) => a[0]!.depth - b[0]!.depth || a[0]!.order - b[0]!.order)
  for (const group of ordered) {
    const box = group[0]!.box
    const clusters = [true, false]
      .map((out) => group.filter((port) => port.out === out))
      .filter((cluster) => cluster.length > 0)
      .map((cluster) => ({
        cluster,
        toward: cluster.reduce((sum, p) => sum + p.toward(), 0) / cluster.length,
      }))
    clusters.sort((a, b) => a.toward - b.toward)
    const step = Math.min(PORT_STEP, box.height / 3)
    const middle = box.y + box.height / 2
    clusters.forEach(({ cluster }, i) => {
      for (const port of cluster) port.y = middle + (i - (clusters.length - 1) / 2) * step
    })
  }
}

/**
 * An edge between a state and its ancestor: straight up (or down) from the inner box to the outer border;
 * a loop on the machine itself hangs from its frame's top right.
 */
export const directPath = (bundle: Bundle, inner: Rect, outer: Rect): EdgeLayout => {
  if (bundle.source === bundle.target) {
    const [right, y] = [outer.x + outer.width - 12, outer.y]
    const d = `M${num(right - 22)},${num(y)} C${num(right - 28)},${num(y + 26)} ${num(right + 6)},${num(y + 26)} ${num(right)},${num(y)}`
    const label = {
      x: right - 30 - bundle.labelWidth,
      y: y + 4,
      width: bundle.labelWidth,
      height: bundle.labelHeight,
    }
    return { bundle, d, label, primary: true }
  }
  const x = inner.x + inner.width / 2
  const outward = bundle.source.length > bundle.target.length
  const [y1, y2] = outward ? [inner.y, outer.y] : [outer.y, inner.y]
  const label = {
    x: x + 6,
    y: (outer.y + inner.y) / 2 - bundle.labelHeight / 2,
    width: bundle.labelWidth,
    height: bundle.labelHeight,
  }
  return { bundle, d: `M${num(x)},${num(y1)} L${num(x)},${num(y2)}`, label, primary: true }
}
