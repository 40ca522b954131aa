// Text measures and XML escaping shared by the diagram's layout and its SVG.

/** Font sizes in px: state names, transition labels, the lines listed inside a state, the heading. */
export const FONT = { state: 12, label: 11, note: 10, title: 15 } as const

/** Line heights in px for the same texts. */
export const LINE = { state: 16, label: 14, note: 13 } as const

/**
 * An estimate of a text's width in px: 0.6 em a character (about 7 px at 12 px), generous for the
 * camel-cased names machines use, so that a box sized by it holds the text in any sans-serif font.
 */
export const textWidth = (text: string, fontSize: number): number => Math.ceil(text.length * fontSize * 0.6)

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
}

/** Escapes a text for XML content and attribute values. */
export const escapeXml = (text: string): string => text.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c)

/** A coordinate as SVG text: one decimal at most, so the same layout always prints the same. */
export const num = (value: number): string => String(Math.round(value * 10) / 10)
