// Places the nodes of each layer vertically: as close as their order and spacing allow to the weighted
// mean of their neighbours, layer by layer until it settles (each step an isotonic regression).
import type { LayerLink, LayerNode } from './layer-order.ts'

/** Weighted isotonic regression (pool adjacent violators): the non-decreasing fit closest to `targets`. */
const isotonic = (targets: readonly number[], weights: readonly number[]): number[] => {
  const blocks: { value: number; weight: number; count: number }[] = []
  targets.forEach((target, i) => {
    blocks.push({ value: target, weight: weights[i]!, count: 1 })
    while (blocks.length > 1) {
      const last = blocks[blocks.length - 1]!
      const before = blocks[blocks.length - 2]!
      if (before.value <= last.value) break
      const weight = before.weight + last.weight
      before.value = (before.value * before.weight + last.value * last.weight) / weight
      before.weight = weight
      before.count += last.count
      blocks.pop()
    }
  })
  return blocks.flatMap((b) => new Array<number>(b.count).fill(b.value))
}

/**
 * The anchor y of every node. `gapAfter(a, b)` is the space wanted between node `a` and the node `b`
 * below it in the same layer.
 */
export const placeLayers = (
  layers: readonly number[][],
  nodes: readonly LayerNode[],
  links: readonly LayerLink[],
  gapAfter: (a: number, b: number) => number,
): number[] => {
  const pulls: { other: number; weight: number }[][] = nodes.map(() => [])
  for (const { a, b, weight } of links) {
    pulls[a]!.push({ other: b, weight })
    pulls[b]!.push({ other: a, weight })
  }
  // Offsets of each node from the first of its layer when packed as tightly as allowed.
  const offsets = layers.map((layer) => {
    const out = [0]
    for (let i = 1; i < layer.length; i++) {
      const a = layer[i - 1]!
      const b = layer[i]!
      out.push(out[i - 1]! + nodes[a]!.below + gapAfter(a, b) + nodes[b]!.above)
    }
    return out
  })
  const y: number[] = new Array(nodes.length).fill(0)
  layers.forEach((layer, l) => {
    const first = layer[0]
    const last = layer[layer.length - 1]
    if (first === undefined || last === undefined) return
    const span = offsets[l]![layer.length - 1]! + nodes[last]!.below + nodes[first]!.above
    layer.forEach((node, i) => {
      y[node] = offsets[l]![i]! + nodes[first]!.above - span / 2
    })
  })
  const settle = (l: number) => {
    const layer = layers[l]!
    const off = offsets[l]!
    const targets: number[] = []
    const weights: number[] = []
    layer.forEach((node, i) => {
      const pull = pulls[node]!
      const weight = pull.reduce((sum, p) => sum + p.weight, 0)
      const wanted =
        weight === 0 ? y[node]! : pull.reduce((sum, p) => sum + p.weight * y[p.other]!, 0) / weight
      targets.push(wanted - off[i]!)
      weights.push(weight === 0 ? 0.01 : weight)
    })
    isotonic(targets, weights).forEach((z, i) => {
      y[layer[i]!] = z + off[i]!
    })
  }
  for (let round = 0; round < 40; round++) {
    for (let l = 0; l < layers.length; l++) settle(l)
    for (let l = layers.length - 1; l >= 0; l--) settle(l)
  }
  return y
}

/**
 * Lanes for vertical spans that must not share a line: each span gets the lowest lane free over its
 * whole extent (spans taken longest first, so the long ones keep to the inside).
 *
 * @example
 * lanes([[0, 10], [5, 20], [12, 18]]) // [1, 0, 1]
 */
export const lanes = (spans: readonly (readonly [number, number])[]): number[] => {
  const order = spans.map((_, i) => i)
  order.sort((a, b) => spans[b]![1] - spans[b]![0] - (spans[a]![1] - spans[a]![0]) || a - b)
  const taken: [number, number][][] = []
  const out: number[] = new Array(spans.length).fill(0)
  for (const i of order) {
    const [lo, hi] = spans[i]!
    let lane = 0
    while (taken[lane]?.some(([a, b]) => lo <= b + 4 && a <= hi + 4)) lane++
    taken[lane] = [...(taken[lane] ?? []), [lo, hi]]
    out[i] = lane
  }
  return out
}
