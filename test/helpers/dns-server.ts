/**
 * A tiny authoritative DNS server on UDP loopback (dns-packet) answering from a zone written in
 * the test: known names get their records of the asked type (none: NOERROR/NODATA), unknown
 * names NXDOMAIN. `silent` never answers (timeouts). Closed when the test ends.
 */
import { createSocket } from 'node:dgram';
import type { TestContext } from 'node:test';
import { AUTHORITATIVE_ANSWER, decode, encode } from 'dns-packet';
import type { Answer } from 'dns-packet';

const NXDOMAIN = 3;

export type Zone = Record<string, Answer[]>;

/** Returns "127.0.0.1:PORT" for Resolver.setServers. */
export async function startDnsServer(t: TestContext, zone: Zone, silent = false): Promise<string> {
  const socket = createSocket('udp4');
  socket.on('message', (message, remote) => {
    if (silent) return;
    const query = decode(message);
    const question = query.questions?.[0];
    if (question === undefined) return;
    const known = zone[question.name.toLowerCase()];
    const answers = (known ?? []).filter((answer) => answer.type === question.type);
    const response = encode({
      type: 'response',
      id: query.id ?? 0,
      flags: AUTHORITATIVE_ANSWER | (known === undefined ? NXDOMAIN : 0),
      questions: [question],
      answers,
    });
    socket.send(response, remote.port, remote.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return `127.0.0.1:${socket.address().port}`;
}

/** One resource record for a zone. */
export function rr(type: string, name: string, data: unknown): Answer {
  return { type, name, ttl: 60, class: 'IN', data } as Answer;
}
