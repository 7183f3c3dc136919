/**
 * The reference stack (../shared/refstack: Debian's Postfix + Dovecot on loopback), as tests see
 * it. `.ci/run` starts it and sets MAILHAVEN_REQUIRE_REFSTACK=1, so there a missing stack fails the
 * test; elsewhere (a user's clone has no ../shared) the test is skipped and says why.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';

export const REFSTACK_READY_FILE = process.env.REFSTACK_READY ?? '/tmp/refstack.ready';

export interface Refstack {
  host: string;
  smtpPort: number;
  imapPort: number;
  pop3Port: number;
  user: string;
  password: string;
  domain: string;
  /** Every KEY=VALUE of the ready file. */
  values: Record<string, string>;
}

export function readRefstack(): Refstack | null {
  if (!existsSync(REFSTACK_READY_FILE)) return null;
  const values: Record<string, string> = {};
  for (const line of readFileSync(REFSTACK_READY_FILE, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) values[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return {
    host: values.HOST ?? '127.0.0.1',
    smtpPort: Number(values.SMTP_PORT ?? 10025),
    imapPort: Number(values.IMAP_PORT ?? 10143),
    pop3Port: Number(values.POP3_PORT ?? 10110),
    user: values.USER ?? 'user1@example.test',
    password: values.PASS ?? 'pass',
    domain: values.DOMAIN ?? 'example.test',
    values,
  };
}

/**
 * The running reference stack, or null after marking the test skipped (with the reason). Under
 * MAILHAVEN_REQUIRE_REFSTACK=1 a missing stack throws instead.
 */
export function refstackOrSkip(t: TestContext): Refstack | null {
  const stack = readRefstack();
  if (stack !== null) return stack;
  const reason = `reference stack not running (${REFSTACK_READY_FILE} missing; start ../shared/refstack/start.sh)`;
  if (process.env.MAILHAVEN_REQUIRE_REFSTACK === '1') throw new Error(`${reason}, and MAILHAVEN_REQUIRE_REFSTACK=1`);
  t.skip(reason);
  return null;
}
