// The diagram's stylesheet: a neutral light palette on classes only, so a page highlights a state by
// adding `active` to its `g.state` and an edge by adding `taken` to its `g.transition`.

/**
 * @param scope a selector for this diagram's root element
 * @param takenArrow the id of the arrowhead marker for taken edges
 */
export const diagramStyle = (scope: string, takenArrow: string): string => {
  const rules: [string, string][] = [
    ['', 'font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'],
    ['.heading', 'font-size: 15px; font-weight: 600; fill: #1f2937'],
    ['.frame', 'fill: #fbfcfd; stroke: #d3d9e1; stroke-width: 1'],
    ['.state > rect', 'fill: #ffffff; stroke: #94a3b8; stroke-width: 1.25'],
    ['.state.compound > rect, .state.parallel > rect', 'fill: #f5f7fa; stroke: #a9b4c3'],
    ['.state.region > rect', 'fill: #fafbfc; stroke-dasharray: 6 3'],
    ['.state.final > rect.inner', 'fill: none'],
    ['.state.history > rect', 'stroke-dasharray: 2 2'],
    ['.name', 'font-size: 12px; font-weight: 600; fill: #1e293b'],
    ['.note', 'font-size: 10px; fill: #64748b'],
    ['.initial-dot', 'fill: #475569'],
    ['.initial-arrow', 'fill: none; stroke: #475569; stroke-width: 1.25'],
    ['.edge', 'fill: none; stroke: #8896a8; stroke-width: 1.25'],
    ['.edge.twin', 'stroke: none'],
    ['.arrowhead', 'fill: #8896a8'],
    ['.arrowhead.initial', 'fill: #475569'],
    ['.arrowhead.taken', 'fill: #2563eb'],
    ['.label-bg', 'fill: #ffffff'],
    ['.label', 'font-size: 11px; fill: #334155'],
    ['.label.twin, .label-bg.twin', 'visibility: hidden'],
    ['.state.active > rect', 'fill: #fde68a; stroke: #b45309; stroke-width: 3'],
    ['.state.compound.active > rect, .state.parallel.active > rect', 'fill: #fff6d5'],
    ['.state.final.active > rect.inner', 'fill: none; stroke-width: 1.5'],
    ['.state.active > .name', 'fill: #7c2d12'],
    ['.transition.taken > .edge', `stroke: #2563eb; stroke-width: 2.5; marker-end: url(#${takenArrow})`],
    ['.transition.taken > .label-bg', 'fill: #dbeafe; fill-opacity: 1; visibility: visible'],
    [
      '.transition.taken > .label, .transition.taken > .note',
      'fill: #1d4ed8; font-weight: 600; visibility: visible',
    ],
  ]
  const scoped = (selector: string) =>
    selector === ''
      ? scope
      : selector
          .split(', ')
          .map((part) => `${scope} ${part}`)
          .join(', ')
  return rules.map(([selector, body]) => `${scoped(selector)} { ${body} }`).join('\n')
}
