/** The logger the listeners hand to every connection: redaction, connection fields, terminal format. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectionLogger, createLogger, formatPrettyLine, REDACTED } from '../src/log/index.js';

function capture(level: 'info' | 'debug' = 'info') {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level, destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
  return { logger, lines };
}

test('credentials are redacted at the top level and one or two levels down', () => {
  const { logger, lines } = capture();
  logger.info(
    {
      user: 'ann@example.org',
      password: 'hunter2',
      auth: { mechanism: 'PLAIN', saslResponse: 'AGFubgBodW50ZXIy', token: 'abc' },
      request: { headers: { authorization: 'Bearer xyz' } },
    },
    'login',
  );
  assert.equal(lines.length, 1);
  const line = lines[0]!;
  assert.equal(line.user, 'ann@example.org');
  assert.equal(line.password, REDACTED);
  assert.deepEqual(line.auth, { mechanism: 'PLAIN', saslResponse: REDACTED, token: REDACTED });
  assert.deepEqual(line.request, { headers: { authorization: REDACTED } });
  assert.equal(line.level, 'info');
  assert.equal(line.msg, 'login');
  assert.equal(line.pid, process.pid);
  assert.equal('hostname' in line, false);
});

test('connectionLogger adds conn, protocol and remote to every line', () => {
  const { logger, lines } = capture('debug');
  const child = connectionLogger(logger, { id: 'abc12345', protocol: 'imap', remote: '192.0.2.7:51000' });
  child.debug({ command: 'SELECT' }, 'command');
  assert.equal(lines[0]?.conn, 'abc12345');
  assert.equal(lines[0]?.protocol, 'imap');
  assert.equal(lines[0]?.remote, '192.0.2.7:51000');
  assert.equal(lines[0]?.command, 'SELECT');
  const generated = connectionLogger(logger, { protocol: 'smtp', remote: '[2001:db8::1]:25' });
  generated.info('x');
  assert.match(String(lines[1]?.conn), /^[A-Za-z0-9_-]{8}$/);
});

test('terminal format: HH:MM:SS.mmm LEVEL msg key=value', () => {
  const time = new Date(2024, 0, 2, 3, 4, 5, 67);
  const json = JSON.stringify({ level: 'warn', time: time.toISOString(), pid: 1, conn: 'c1', msg: 'slow client', remote: '127.0.0.1:5', note: 'two words', n: 3 });
  assert.equal(formatPrettyLine(json), '03:04:05.067 WARN  slow client conn=c1 remote=127.0.0.1:5 note="two words" n=3\n');
  assert.equal(formatPrettyLine('not json'), 'not json\n');
});

test('terminal format prints an error message and its stack below the line', () => {
  const time = new Date(2024, 0, 2, 3, 4, 5, 6);
  const json = JSON.stringify({ level: 'error', time: time.toISOString(), msg: 'failed', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (x.ts:1:1)' } });
  assert.equal(formatPrettyLine(json), '03:04:05.006 ERROR failed err=boom\n    Error: boom\n        at f (x.ts:1:1)\n');
});
