// Ranks and orders the nodes of one container's layered drawing: ranks by breadth-first search from the
// initial state, order within a layer by barycenters, keeping the order with the fewest crossings.

/** A node of the layered graph: a state, or a point an edge passes through (its label, or a bend). */
export interface LayerNode {
  layer: number
  /** The state's index among the container's children, or -1 for an edge's own node. */
  item: number
  /** The edge an edge node belongs to, or -1. */
  edge: number
  label: boolean
  width: number
  /** Extent above and below the node's anchor (a box's centre, a label's middle line). */
  above: number
  below: number
}

/** A link between two nodes in neighbouring layers, with the weight it pulls them into line with. */
export interface LayerLink {
  a: number
  b: number
  weight: number
}

/**
 * Each item's rank: its breadth-first distance from the first root along the edges; items it does not
 * reach start a search of their own at rank 0, in document order.
 *
 * @example
 * rankItems(3, [[0, 1], [1, 2], [2, 0]], 0) // [0, 1, 2]
 */
export const rankItems = (count: number, edges: readonly (readonly [number, number])[], root: number) => {
  const next: number[][] = Array.from({ length: count }, () => [])
  for (const [from, to] of edges) if (from !== to) next[from]?.push(to)
  const rank: number[] = new Array(count).fill(-1)
  const search = (start: number) => {
    rank[start] = 0
    const queue = [start]
    for (let head = 0; head < queue.length; head++) {
      const at = queue[head]!
      for (const to of next[at]!) {
        if (rank[to] !== -1) continue
        rank[to] = rank[at]! + 1
        queue.push(to)
      }
    }
  }
  if (count > 0) search(root)
  for (let i = 0; i < count; i++) if (rank[i] === -1) search(i)
  return rank
}

export const neighbourList = (count: number, links: readonly LayerLink[]) => {
  const neighbours: number[][] = Array.from({ length: count }, () => [])
  for (const { a, b } of links) {
    neighbours[a]!.push(b)
    neighbours[b]!.push(a)
  }
  return neighbours
}

const positions = (layers: readonly number[][], count: number) => {
  const pos: number[] = new Array(count).fill(0)
  for (const layer of layers) {
    layer.forEach((node, i) => {
      pos[node] = i
    })
  }
  return pos
}

/** A state joined to another of its own layer counts this much for each node standing between them. */
const SPREAD = 2

/**
 * How untidy an ordering is: the edge crossings between neighbouring layers, plus the nodes standing
 * between two states of one layer that an edge joins. With `only`, just the part a move within that
 * layer changes.
 */
const orderingCost = (
  nodes: readonly LayerNode[],
  links: readonly LayerLink[],
  sameLayer: readonly number[][],
) => {
  const byGap = new Map<number, [number, number][]>()
  for (const { a, b } of links) {
    const pair: [number, number] = nodes[a]!.layer < nodes[b]!.layer ? [a, b] : [b, a]
    const gap = nodes[pair[0]]!.layer
    byGap.set(gap, [...(byGap.get(gap) ?? []), pair])
  }
  return (pos: readonly number[], only?: number) => {
    let cost = 0
    for (const [gap, list] of byGap) {
      if (only !== undefined && gap !== only && gap !== only - 1) continue
      for (let i = 0; i < list.length; i++) {
        const [u1, l1] = list[i]!
        for (let j = i + 1; j < list.length; j++) {
          const [u2, l2] = list[j]!
          if ((pos[u1]! - pos[u2]!) * (pos[l1]! - pos[l2]!) < 0) cost++
        }
      }
    }
    for (const [a, b] of sameLayer) {
      if (only === undefined || nodes[a!]!.layer === only)
        cost += SPREAD * (Math.abs(pos[a!]! - pos[b!]!) - 1)
    }
    return cost
  }
}

/** Sorts one layer by the mean position of each node's neighbours in the given layers (stable). */
export const sortByBarycenter = (
  layers: number[][],
  index: number,
  refs: readonly number[],
  nodes: readonly LayerNode[],
  neighbours: readonly number[][],
) => {
  const pos = positions(layers, nodes.length)
  const layer = layers[index]!
  const keyed = layer.map((node, i) => {
    const near = neighbours[node]!.filter((m) => refs.includes(nodes[m]!.layer))
    const bary = near.length === 0 ? i : near.reduce((sum, m) => sum + pos[m]!, 0) / near.length
    return { node, bary, i }
  })
  keyed.sort((p, q) => p.bary - q.bary || p.i - q.i)
  layers[index] = keyed.map((k) => k.node)
}

/**
 * Orders the layers in place: alternating downward and upward barycenter sweeps, each followed by swaps
 * of neighbours that make the ordering tidier, keeping the tidiest ordering found (the first among
 * equals, so the result is deterministic). `sameLayer` lists the pairs of states joined within a layer.
 */
export const orderLayers = (
  layers: number[][],
  nodes: readonly LayerNode[],
  links: readonly LayerLink[],
  sameLayer: readonly number[][],
) => {
  const neighbours = neighbourList(nodes.length, links)
  const cost = orderingCost(nodes, links, sameLayer)
  const transpose = () => {
    const pos = positions(layers, nodes.length)
    for (let pass = 0; pass < 6; pass++) {
      let improved = false
      for (let l = 0; l < layers.length; l++) {
        const layer = layers[l]!
        for (let i = 0; i + 1 < layer.length; i++) {
          const [a, b] = [layer[i]!, layer[i + 1]!]
          const before = cost(pos, l)
          ;[layer[i], layer[i + 1], pos[a], pos[b]] = [b, a, i + 1, i]
          if (cost(pos, l) < before) improved = true
          else [layer[i], layer[i + 1], pos[a], pos[b]] = [a, b, i, i + 1]
        }
      }
      if (!improved) break
    }
  }
  transpose()
  let best = layers.map((l) => [...l])
  let lowest = cost(positions(layers, nodes.length))
  for (let round = 0; round < 8 && lowest > 0; round++) {
    for (let i = 1; i < layers.length; i++) sortByBarycenter(layers, i, [i - 1], nodes, neighbours)
    for (let i = layers.length - 2; i >= 0; i--) sortByBarycenter(layers, i, [i + 1], nodes, neighbours)
    transpose()
    const current = cost(positions(layers, nodes.length))
    if (current < lowest) {
      lowest = current
      best = layers.map((l) => [...l])
    }
  }
  layers.splice(0, layers.length, ...best)
}
