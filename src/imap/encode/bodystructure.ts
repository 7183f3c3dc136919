/**
 * IMAP wire text of BODY and BODYSTRUCTURE (RFC 3501 7.4.2, 9 `body`) from the message index.
 * Pure: no I/O. See ./envelope.ts for the string rules (ASCII unless UTF8=ACCEPT).
 * @module
 */
import type { MimePart } from '../../mime/types.js';
import { encodeEnvelope, imapString, nstring } from './envelope.js';
import type { EncodeOptions } from './envelope.js';

export interface BodyEncodeOptions extends EncodeOptions {
  /**
   * Send message/global (RFC 6532 3.7) like message/rfc822, with envelope, body and lines.
   * IMAP4rev1's grammar only allows that for MESSAGE/RFC822 (`media-message`), so it is off
   * by default (as in Dovecot 2.3); IMAP4rev2 (RFC 9051) allows it.
   */
  messageGlobal?: boolean;
}

/** FETCH BODY: the structure without extension data. */
export function encodeBody(part: MimePart, options: BodyEncodeOptions = {}): string {
  return encodePart(part, false, options);
}

/** FETCH BODYSTRUCTURE: the structure with extension data. */
export function encodeBodyStructure(part: MimePart, options: BodyEncodeOptions = {}): string {
  return encodePart(part, true, options);
}

/** RFC 3501 9 `body`. */
function encodePart(part: MimePart, extended: boolean, options: BodyEncodeOptions): string {
  return part.children ? encodeMultipart(part, part.children, extended, options) : encodeSinglePart(part, extended, options);
}

/**
 * A multipart without any child (no boundary, or closed at once) is not allowed by the grammar
 * (`1*body`); like Dovecot we send one empty text/plain part in its place.
 */
const EMPTY_BODY = '("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 0 0)';
const EMPTY_BODYSTRUCTURE = '("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL)';
/** Envelope of a message/rfc822 part we did not parse (nesting or part limit). */
const EMPTY_ENVELOPE = '(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)';

/** `body-type-mpart` = 1*body SP media-subtype [SP body-ext-mpart]. */
function encodeMultipart(part: MimePart, children: MimePart[], extended: boolean, options: BodyEncodeOptions): string {
  const bodies = children.length > 0 ? children.map((c) => encodePart(c, extended, options)).join('') : extended ? EMPTY_BODYSTRUCTURE : EMPTY_BODY;
  let out = `(${bodies} ${imapString(part.subtype, 'raw', options)}`;
  if (extended) {
    // body-ext-mpart = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
    out += ` ${encodeParams(part.params, options)} ${encodeExtensionTail(part, options)}`;
  }
  return `${out})`;
}

/** `body-type-1part` = (body-type-basic / body-type-msg / body-type-text) [SP body-ext-1part]. */
function encodeSinglePart(part: MimePart, extended: boolean, options: BodyEncodeOptions): string {
  // body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets
  let out =
    `(${imapString(part.type, 'raw', options)} ${imapString(part.subtype, 'raw', options)} ${encodeParams(part.params, options)}` +
    ` ${nstring(part.id, 'raw', options)} ${nstring(part.description, 'text', options)} ${imapString(part.encoding, 'raw', options)} ${part.size}`;
  if (isEncapsulated(part, options)) {
    // body-type-msg: ... SP envelope SP body SP body-fld-lines
    const inner = part.message;
    const envelope = inner ? encodeEnvelope(inner.envelope, options) : EMPTY_ENVELOPE;
    const body = inner ? encodePart(inner.part, extended, options) : extended ? EMPTY_BODYSTRUCTURE : EMPTY_BODY;
    out += ` ${envelope} ${body} ${part.lines}`;
  } else if (part.type === 'text') {
    out += ` ${part.lines}`;
  }
  if (extended) {
    // body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
    out += ` ${nstring(part.md5, 'raw', options)} ${encodeExtensionTail(part, options)}`;
  }
  return `${out})`;
}

function isEncapsulated(part: MimePart, options: BodyEncodeOptions): boolean {
  if (part.type !== 'message') return false;
  return part.subtype === 'rfc822' || (part.subtype === 'global' && options.messageGlobal === true);
}

/** body-fld-dsp SP body-fld-lang SP body-fld-loc. */
function encodeExtensionTail(part: MimePart, options: BodyEncodeOptions): string {
  const disposition = part.disposition ? `(${imapString(part.disposition.type, 'raw', options)} ${encodeParams(part.disposition.params, options)})` : 'NIL';
  const language = part.language && part.language.length > 0 ? `(${part.language.map((l) => imapString(l, 'raw', options)).join(' ')})` : 'NIL';
  return `${disposition} ${language} ${nstring(part.location, 'raw', options)}`;
}

/**
 * `body-fld-param` = "(" string SP string *(SP string SP string) ")" / nil.
 * A non-ASCII value (the index holds decoded UTF-8) is sent in RFC 2231 form, `name*` =
 * utf-8''%XX..., unless UTF8=ACCEPT is on.
 */
function encodeParams(params: Array<[string, string]>, options: BodyEncodeOptions): string {
  if (params.length === 0) return 'NIL';
  const pairs = params.map(([name, value]) => {
    if (!options.utf8 && !isPrintableAscii(value)) return `${imapString(`${name}*`, 'raw', options)} ${imapString(rfc2231(value), 'raw', options)}`;
    return `${imapString(name, 'raw', options)} ${imapString(value, 'raw', options)}`;
  });
  return `(${pairs.join(' ')})`;
}

function isPrintableAscii(text: string): boolean {
  return /^[\x20-\x7e\t]*$/.test(text);
}

/** RFC 2231 4 extended value: charset'language'%-encoded octets (attribute-char kept). */
function rfc2231(value: string): string {
  let out = "utf-8''";
  for (const byte of Buffer.from(value, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9!#$&+\-.^_`|~]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
