/** The little XML our documents need: escaping, and elements written from a tree. */

/** XML 1.0 2.4: "&" and "<" must be escaped in text, and quotes in attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => XML_ENTITIES[char] ?? char);
}

const XML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Reverses escapeXml plus numeric references, for the few values we read from requests. */
export function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (whole, entity: string) => {
    if (entity.startsWith('#x')) return codePoint(parseInt(entity.slice(2), 16)) ?? whole;
    if (entity.startsWith('#')) return codePoint(parseInt(entity.slice(1), 10)) ?? whole;
    return NAMED[entity] ?? whole;
  });
}

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function codePoint(value: number): string | null {
  return Number.isInteger(value) && value > 0 && value <= 0x10ffff ? String.fromCodePoint(value) : null;
}

/** An element: name, attributes, and either text or child elements. */
export interface XmlElement {
  name: string;
  attributes?: Readonly<Record<string, string>>;
  children?: ReadonlyArray<XmlElement>;
  text?: string;
}

export function element(name: string, content?: string | ReadonlyArray<XmlElement>, attributes?: Record<string, string>): XmlElement {
  if (content === undefined) return { name, ...(attributes ? { attributes } : {}) };
  return typeof content === 'string' ? { name, text: content, ...(attributes ? { attributes } : {}) } : { name, children: content, ...(attributes ? { attributes } : {}) };
}

/** Indented with two spaces, one element per line; text content stays on its element's line. */
export function renderXml(root: XmlElement, prolog = '<?xml version="1.0" encoding="UTF-8"?>\n'): string {
  const lines: string[] = [];
  write(root, 0, lines);
  return `${prolog}${lines.join('\n')}\n`;
}

function write(node: XmlElement, depth: number, lines: string[]): void {
  const indent = '  '.repeat(depth);
  const attributes = Object.entries(node.attributes ?? {})
    .map(([name, value]) => ` ${name}="${escapeXml(value)}"`)
    .join('');
  if (node.children !== undefined && node.children.length > 0) {
    lines.push(`${indent}<${node.name}${attributes}>`);
    for (const child of node.children) write(child, depth + 1, lines);
    lines.push(`${indent}</${node.name}>`);
  } else if (node.text !== undefined) {
    lines.push(`${indent}<${node.name}${attributes}>${escapeXml(node.text)}</${node.name}>`);
  } else {
    lines.push(`${indent}<${node.name}${attributes}/>`);
  }
}
