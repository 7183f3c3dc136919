/**
 * Shifting an index for a prefix. A blob is stored once per message, but a recipient's copy
 * may start with extra header lines (Return-Path, Delivered-To). The message such a recipient
 * sees is prefix + blob; its index is the blob's index with every offset moved by the prefix
 * length, except the top-level header start, which stays 0: the prefix lines join the
 * top-level header (RFC 5322 3.6: trace fields are prepended to the header).
 * @module
 */
import type { MessageIndex, MimePart } from './types.js';

/** The index of `prefix + blob`, given the index of `blob`. Pure: `index` is not modified. */
export function shiftIndex(index: MessageIndex, prefixLength: number): MessageIndex {
  if (!Number.isSafeInteger(prefixLength) || prefixLength < 0) throw new RangeError(`prefixLength must be a non-negative integer, got ${prefixLength}`);
  const part = shiftPart(index.part, prefixLength);
  part.headerStart = 0;
  const shifted: MessageIndex = { ...index, size: index.size + prefixLength, part };
  if (index.warnings) shifted.warnings = [...index.warnings];
  return shifted;
}

function shiftPart(part: MimePart, by: number): MimePart {
  const shifted: MimePart = { ...part, headerStart: part.headerStart + by, bodyStart: part.bodyStart + by, bodyEnd: part.bodyEnd + by };
  if (part.children) shifted.children = part.children.map((child) => shiftPart(child, by));
  if (part.message) shifted.message = { envelope: part.message.envelope, part: shiftPart(part.message.part, by) };
  return shifted;
}
