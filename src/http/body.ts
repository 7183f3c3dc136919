/** Request bodies: read with a size limit, parsed as JSON only when sent as JSON. */
import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors.js';

/** Admin API bodies are a few hundred bytes; autodiscover requests well under 1 KiB. */
export const DEFAULT_BODY_LIMIT = 64 * 1024;

export async function readBody(req: IncomingMessage, limit = DEFAULT_BODY_LIMIT): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function parseJsonBody(req: IncomingMessage, body: Buffer): unknown {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  // A JSON content type is required: a cross-site form post cannot send one without a CORS preflight.
  if (type !== 'application/json') throw new HttpError(415, 'unsupportedMediaType', 'send the body as application/json');
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (err) {
    throw new HttpError(400, 'badJson', `the body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function tooLarge(limit: number): HttpError {
  // Closing the connection spares reading the rest of an oversized body.
  return new HttpError(413, 'payloadTooLarge', `the body is larger than ${limit} octets`, { Connection: 'close' });
}
