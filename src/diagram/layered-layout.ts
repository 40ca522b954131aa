// Lays out the children of one container left to right in layers: states on even layers by rank, each
// edge's label (and the points a long edge passes through) on the layers between, so labels never collide.
import {
  type LayerLink,
  type LayerNode,
  neighbourList,
  orderLayers,
  rankItems,
  sortByBarycenter,
} from './layer-order.ts'
import { lanes, placeLayers } from './layer-place.ts'

/** A child state's box. */
export interface LayoutItem {
  width: number
  height: number
}

export interface LayoutEdge {
  from: number
  to: number
  labelWidth: number
  labelHeight: number
  /** Edges into one state with equal keys from the same side share one label next to it. */
  labelKey: string
}

export interface Rect {
  x: number
  y: number
  width: number
  height: number
}

/**
 * A layer an edge crosses at height `y`, straight across the layer's column from `left` to `right` (so
 * curves stay in the gaps between columns); through its label when it has one.
 */
export interface Via {
  y: number
  left: number
  right: number
  label: Rect | null
}

export type Route =
  /**
   * Between ranks: out of the source's right side (left when backward), straight to its column's edge
   * `fromX`, through `via`, and from the target column's edge `toX` into the target. Edges that share
   * their label with others show it only on the `primary` one.
   */
  | { kind: 'chain'; forward: boolean; via: Via[]; fromX: number; toX: number; primary: boolean }
  /** Between neighbours in one column: a vertical line at `x`. */
  | { kind: 'vertical'; down: boolean; x: number; label: Rect }
  /**
   * Between states of one column that are not neighbours, or from a state to itself: out of the right
   * side to the column's edge `fromX`, along a vertical lane at `apexX` beside the label in the next
   * column, and back.
   */
  | { kind: 'bend'; label: Rect; fromX: number; apexX: number }

export interface LayeredLayout {
  width: number
  height: number
  boxes: Rect[]
  routes: Route[]
}

const COLUMN_GAP = 44
const STATE_GAP = 28
const EDGE_GAP = 8
const LABEL_GAP = 6
const VERTICAL_INSET = 16
const LINE_STEP = 12
const BEND_WEIGHT = 6
const BEND_STEP = 7

const isEdgeNode = (node: LayerNode) => node.item < 0

/**
 * @example
 * const layout = layeredLayout([{ width: 90, height: 34 }, { width: 90, height: 34 }],
 *   [{ from: 0, to: 1, labelWidth: 60, labelHeight: 14 }], { root: 0, parallel: false })
 * layout.boxes[1].x > layout.boxes[0].x // true: rank 1 stands right of rank 0
 */
export const layeredLayout = (
  items: readonly LayoutItem[],
  edges: readonly LayoutEdge[],
  options: { root: number; parallel: boolean },
): LayeredLayout => {
  const rank = options.parallel
    ? items.map((_, i) => i)
    : rankItems(
        items.length,
        edges.map((e) => [e.from, e.to] as const),
        options.root,
      )
  const nodes: LayerNode[] = items.map((item, i) => ({
    layer: 2 * rank[i]!,
    item: i,
    edge: -1,
    label: false,
    width: item.width,
    above: item.height / 2,
    below: item.height / 2,
  }))
  const links: LayerLink[] = []
  // Long edges pull hardest into straight lines, as in Sugiyama-style layouts; a bend pulls its label
  // close to the states it joins, so a loop stays small.
  const link = (a: number, b: number, weight?: number) => {
    const virtual = Number(isEdgeNode(nodes[a]!)) + Number(isEdgeNode(nodes[b]!))
    links.push({ a, b, weight: weight ?? [1, 2, 8][virtual]! })
  }
  const addNode = (layer: number, edge: number, label: boolean) => {
    const e = edges[edge]!
    const half = label ? e.labelHeight / 2 : 0
    nodes.push({ layer, item: -1, edge, label, width: label ? e.labelWidth : 0, above: half, below: half })
    return nodes.length - 1
  }
  const chains: number[][] = edges.map(() => [])
  const primary = edges.map(() => true)
  const sameRank: number[] = []
  const groupOf = (e: LayoutEdge) => `${e.to}|${Math.sign(rank[e.to]! - rank[e.from]!)}|${e.labelKey}`
  const groupSizes = new Map<string, number>()
  for (const e of edges)
    if (rank[e.from] !== rank[e.to]) groupSizes.set(groupOf(e), (groupSizes.get(groupOf(e)) ?? 0) + 1)
  const shared = new Map<string, number>()
  edges.forEach((e, index) => {
    const a = 2 * rank[e.from]!
    const b = 2 * rank[e.to]!
    if (a === b) {
      sameRank.push(index)
      return
    }
    const step = Math.sign(b - a)
    const chain = chains[index]!
    let previous = e.from
    const through = (node: number) => {
      chain.push(node)
      link(previous, node)
      previous = node
    }
    const group = groupOf(e)
    if ((groupSizes.get(group) ?? 0) > 1) {
      // Several states reach this one by the same events: their edges meet at one label beside it.
      let label = shared.get(group)
      if (label === undefined) {
        label = addNode(b - step, index, true)
        link(label, e.to)
        shared.set(group, label)
      } else {
        primary[index] = false
      }
      for (let layer = a + step; layer !== b - step; layer += step) through(addNode(layer, index, false))
      chain.push(label)
      link(previous, label)
      return
    }
    const count = Math.abs(b - a) - 1
    for (let k = 0; k < count; k++) through(addNode(a + step * (k + 1), index, k === (count - 1) / 2))
    link(previous, e.to)
  })

  // One spare layer past the last rank, for bends out of the last column.
  const layers: number[][] = Array.from({ length: Math.max(0, ...nodes.map((n) => n.layer)) + 2 }, () => [])
  nodes.forEach((node, i) => {
    layers[node.layer]!.push(i)
  })
  orderLayers(
    layers,
    nodes,
    links,
    sameRank.map((i) => [edges[i]!.from, edges[i]!.to]),
  )

  // Edges within one column: straight down to a neighbour, or out and round a label in the next layer
  // (so is a loop from a state to itself).
  const verticals = new Map<string, number[]>()
  const bends = new Map<number, number>()
  for (const index of sameRank) {
    const e = edges[index]!
    const column = layers[nodes[e.from]!.layer]!
    const [p, q] = [column.indexOf(e.from), column.indexOf(e.to)]
    if (Math.abs(p - q) === 1) {
      const key = p < q ? `${e.from},${e.to}` : `${e.to},${e.from}`
      verticals.set(key, [...(verticals.get(key) ?? []), index])
      continue
    }
    const node = addNode(nodes[e.from]!.layer + 1, index, true)
    layers[nodes[node]!.layer]!.push(node)
    link(e.from, node, BEND_WEIGHT)
    link(node, e.to, BEND_WEIGHT)
    bends.set(index, node)
  }
  if (bends.size > 0) {
    const neighbours = neighbourList(nodes.length, links)
    const touched = new Set([...bends.values()].map((node) => nodes[node]!.layer))
    for (const l of touched) sortByBarycenter(layers, l, [l - 1], nodes, neighbours)
  }

  const labelsHeight = (list: readonly number[]) =>
    list.reduce((sum, i) => sum + edges[i]!.labelHeight + LABEL_GAP, 0) - LABEL_GAP
  const gapAfter = (a: number, b: number) => {
    const list = verticals.get(`${a},${b}`)
    if (list) return Math.max(STATE_GAP, labelsHeight(list) + 20)
    return isEdgeNode(nodes[a]!) || isEdgeNode(nodes[b]!) ? EDGE_GAP : STATE_GAP
  }
  const ys = placeLayers(layers, nodes, links, gapAfter)
  const top = Math.min(...nodes.map((n, i) => ys[i]! - n.above))
  for (let i = 0; i < ys.length; i++) ys[i] = ys[i]! - top
  const height = Math.max(0, ...nodes.map((n, i) => ys[i]! + n.below))

  // Columns: as wide as their widest node (or label of a vertical edge), packed left to right.
  const widths = layers.map((layer) => Math.max(0, ...layer.map((n) => nodes[n]!.width)))
  const verticalOffset = (upper: number, lower: number, list: readonly number[]) => {
    const lines = -Math.min(items[upper]!.width, items[lower]!.width) / 2 + VERTICAL_INSET
    return { lines, labels: lines + LINE_STEP * (list.length - 1) + 8 }
  }
  for (const [key, list] of verticals) {
    const [upper, lower] = key.split(',').map(Number) as [number, number]
    const right =
      verticalOffset(upper, lower, list).labels + Math.max(...list.map((i) => edges[i]!.labelWidth))
    const l = nodes[upper]!.layer
    widths[l] = Math.max(widths[l]!, 2 * right)
  }
  while (widths.length > 1 && layers[widths.length - 1]!.length === 0) widths.pop()
  // Bends turn on vertical lines left of their labels, one lane each where their spans meet.
  const bendList = [...bends.values()]
  const laneList = lanes(
    bendList.map((node) => {
      const e = edges[nodes[node]!.edge]!
      const span = [ys[e.from]!, ys[e.to]!, ys[node]!]
      return [Math.min(...span), Math.max(...span)] as const
    }),
  )
  const laneOf = new Map(bendList.map((node, i) => [node, laneList[i]!]))
  const centers: number[] = []
  let x = 0
  widths.forEach((w, l) => {
    x += BEND_STEP * Math.max(0, ...bendList.filter((n) => nodes[n]!.layer === l).map((n) => laneOf.get(n)!))
    centers.push(x + w / 2)
    // An empty layer (no edge between two ranks, or between parallel regions) takes no room.
    if (layers[l]!.length > 0) x += w + COLUMN_GAP
  })
  const centerOf = (node: number) => centers[nodes[node]!.layer]!
  const leftOf = (node: number) => centerOf(node) - (widths[nodes[node]!.layer] ?? 0) / 2
  const rightOf = (node: number) => centerOf(node) + (widths[nodes[node]!.layer] ?? 0) / 2
  const labelAt = (x: number, cy: number, e: LayoutEdge): Rect => ({
    x,
    y: cy - e.labelHeight / 2,
    width: e.labelWidth,
    height: e.labelHeight,
  })

  const boxes = items.map((item, i) => ({
    x: centerOf(i) - item.width / 2,
    y: ys[i]! - item.height / 2,
    width: item.width,
    height: item.height,
  }))
  const routes: Route[] = edges.map((e, index) => {
    const bend = bends.get(index)
    if (bend !== undefined) {
      const apexX = leftOf(bend) - BEND_STEP * laneOf.get(bend)!
      return { kind: 'bend', label: labelAt(leftOf(bend), ys[bend]!, e), fromX: rightOf(e.from), apexX }
    }
    const forward = rank[e.to]! > rank[e.from]!
    const via = chains[index]!.map((node) => ({
      y: ys[node]!,
      left: leftOf(node),
      right: rightOf(node),
      label: nodes[node]!.label ? labelAt(centerOf(node) - e.labelWidth / 2, ys[node]!, e) : null,
    }))
    const [fromX, toX] = forward ? [rightOf(e.from), leftOf(e.to)] : [leftOf(e.from), rightOf(e.to)]
    return { kind: 'chain', forward, via, fromX, toX, primary: primary[index]! }
  })
  // Vertical edges between two neighbours: lines side by side near the narrower box's left end, their
  // labels stacked in the gap right of them.
  for (const [key, list] of verticals) {
    const [upper, lower] = key.split(',').map(Number) as [number, number]
    const gapTop = ys[upper]! + nodes[upper]!.below
    const gapBottom = ys[lower]! - nodes[lower]!.above
    const offset = verticalOffset(upper, lower, list)
    let y = (gapTop + gapBottom) / 2 - labelsHeight(list) / 2
    list.forEach((index, k) => {
      const e = edges[index]!
      const x = centerOf(upper) + offset.lines + k * LINE_STEP
      const label = { x: centerOf(upper) + offset.labels, y, width: e.labelWidth, height: e.labelHeight }
      routes[index] = { kind: 'vertical', down: e.from === upper, x, label }
      y += e.labelHeight + LABEL_GAP
    })
  }
  return { width: Math.max(0, x - COLUMN_GAP), height, boxes, routes }
}
