/**
 * A small, strict XML 1.0 parser for tests of the documents we serve (autoconfig, autodiscover,
 * Apple profiles): it refuses anything not well-formed (unbalanced or crossed tags, duplicate
 * attributes, a bare "&" or "<", unknown entities, text or a second element after the root), so
 * a test that parses a document also proves it is XML a client's parser accepts.
 */

export interface XmlNode {
  name: string;
  attributes: Record<string, string>;
  children: XmlNode[];
  /** Concatenated character data directly inside this element (entities decoded). */
  text: string;
}

export interface XmlDocument {
  /** The XML declaration's attributes ({} when absent). */
  declaration: Record<string, string>;
  /** The DOCTYPE declaration as written (without "<!DOCTYPE" and ">"), or null. */
  doctype: string | null;
  root: XmlNode;
}

export class XmlSyntaxError extends Error {
  constructor(message: string, offset: number) {
    super(`${message} at offset ${offset}`);
    this.name = 'XmlSyntaxError';
  }
}

const NAME = /[A-Za-z_:][A-Za-z0-9_:.-]*/y;
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function parseXml(input: string): XmlDocument {
  const p = new Parser(input);
  return p.document();
}

class Parser {
  private pos = 0;

  constructor(private readonly s: string) {}

  document(): XmlDocument {
    let declaration: Record<string, string> = {};
    if (this.s.startsWith('<?xml', this.pos)) {
      this.pos += 5;
      declaration = this.attributes('?>');
      this.expect('?>');
    }
    let doctype: string | null = null;
    this.misc();
    if (this.s.startsWith('<!DOCTYPE', this.pos)) {
      const end = this.s.indexOf('>', this.pos);
      if (end === -1) this.fail('unterminated DOCTYPE');
      doctype = this.s.slice(this.pos + 9, end).trim();
      if (doctype.includes('[')) this.fail('internal DTD subsets are not accepted');
      this.pos = end + 1;
      this.misc();
    }
    if (this.s[this.pos] !== '<') this.fail('expected the root element');
    const root = this.element();
    this.misc();
    if (this.pos !== this.s.length) this.fail('content after the root element');
    return { declaration, doctype, root };
  }

  /** Whitespace, comments and processing instructions between top-level constructs. */
  private misc(): void {
    for (;;) {
      this.skipSpace();
      if (this.s.startsWith('<!--', this.pos)) this.comment();
      else if (this.s.startsWith('<?', this.pos)) {
        const end = this.s.indexOf('?>', this.pos);
        if (end === -1) this.fail('unterminated processing instruction');
        this.pos = end + 2;
      } else return;
    }
  }

  private comment(): void {
    const end = this.s.indexOf('-->', this.pos + 4);
    if (end === -1) this.fail('unterminated comment');
    if (this.s.slice(this.pos + 4, end).includes('--')) this.fail('"--" inside a comment');
    this.pos = end + 3;
  }

  private element(): XmlNode {
    this.expect('<');
    const name = this.name();
    const attributes = this.attributes('/>');
    const node: XmlNode = { name, attributes, children: [], text: '' };
    if (this.s.startsWith('/>', this.pos)) {
      this.pos += 2;
      return node;
    }
    this.expect('>');
    for (;;) {
      if (this.pos >= this.s.length) this.fail(`unterminated element <${name}>`);
      if (this.s.startsWith('</', this.pos)) {
        this.pos += 2;
        const closing = this.name();
        if (closing !== name) this.fail(`</${closing}> closes <${name}>`);
        this.skipSpace();
        this.expect('>');
        return node;
      }
      if (this.s.startsWith('<!--', this.pos)) this.comment();
      else if (this.s.startsWith('<![CDATA[', this.pos)) {
        const end = this.s.indexOf(']]>', this.pos);
        if (end === -1) this.fail('unterminated CDATA');
        node.text += this.s.slice(this.pos + 9, end);
        this.pos = end + 3;
      } else if (this.s[this.pos] === '<') node.children.push(this.element());
      else node.text += this.charData();
    }
  }

  private attributes(terminator: string): Record<string, string> {
    const attributes: Record<string, string> = {};
    for (;;) {
      const hadSpace = this.skipSpace();
      const next = this.s[this.pos];
      if (next === '>' || this.s.startsWith(terminator, this.pos)) return attributes;
      if (!hadSpace) this.fail('expected whitespace before an attribute');
      const name = this.name();
      if (name in attributes) this.fail(`duplicate attribute ${name}`);
      this.skipSpace();
      this.expect('=');
      this.skipSpace();
      const quote = this.s[this.pos];
      if (quote !== '"' && quote !== "'") this.fail('attribute value must be quoted');
      const end = this.s.indexOf(quote, this.pos + 1);
      if (end === -1) this.fail('unterminated attribute value');
      const raw = this.s.slice(this.pos + 1, end);
      if (raw.includes('<')) this.fail('"<" in an attribute value');
      attributes[name] = decodeEntities(raw, this.pos);
      this.pos = end + 1;
    }
  }

  private charData(): string {
    const end = this.s.indexOf('<', this.pos);
    const raw = this.s.slice(this.pos, end === -1 ? this.s.length : end);
    if (raw.includes(']]>')) this.fail('"]]>" in text');
    const text = decodeEntities(raw, this.pos);
    this.pos += raw.length;
    return text;
  }

  private name(): string {
    NAME.lastIndex = this.pos;
    const match = NAME.exec(this.s);
    if (match === null) this.fail('expected a name');
    this.pos += match[0].length;
    return match[0];
  }

  private skipSpace(): boolean {
    const start = this.pos;
    while (/[ \t\r\n]/.test(this.s[this.pos] ?? '')) this.pos++;
    return this.pos > start;
  }

  private expect(token: string): void {
    if (!this.s.startsWith(token, this.pos)) this.fail(`expected "${token}"`);
    this.pos += token.length;
  }

  private fail(message: string): never {
    throw new XmlSyntaxError(message, this.pos);
  }
}

function decodeEntities(raw: string, offset: number): string {
  return raw.replace(/&([^;\s&]*);?/g, (whole, entity: string) => {
    if (!whole.endsWith(';')) throw new XmlSyntaxError('bare "&"', offset);
    if (entity.startsWith('#x')) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(parseInt(entity.slice(1), 10));
    const value = ENTITIES[entity];
    if (value === undefined) throw new XmlSyntaxError(`unknown entity &${entity};`, offset);
    return value;
  });
}

/** The only child element named `name` (throws when there are none or several). */
export function only(node: XmlNode, name: string): XmlNode {
  const found = node.children.filter((child) => child.name === name);
  if (found.length !== 1) throw new Error(`<${node.name}> has ${found.length} <${name}> children, expected 1`);
  return found[0]!;
}

export function all(node: XmlNode, name: string): XmlNode[] {
  return node.children.filter((child) => child.name === name);
}

/** Text of the only child `name`. */
export function textOf(node: XmlNode, name: string): string {
  return only(node, name).text;
}

/** The names of an element's children, in order (to check a document's exact shape). */
export function childNames(node: XmlNode): string[] {
  return node.children.map((child) => child.name);
}
