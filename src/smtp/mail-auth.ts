/**
 * Mail authentication on the MX (listen.smtp): SPF (RFC 7208), DKIM (RFC 6376), DMARC
 * (RFC 7489) and ARC (RFC 8617) verified by mailauth's `authenticate()` while the message
 * arrives, recorded in an Authentication-Results field (RFC 8601) for every local copy, and the
 * domain's DMARC policy applied as `[mail_auth]` says (docs/dkim.md).
 *
 * How it hooks in (kept out of the session): `openIncomingMessage` (./receive.ts) gives the
 * IncomingMessage a MailAuthCheck as its inspector. The check
 * - streams the client's octets into mailauth as they arrive (backpressure through write()),
 *   so nothing is buffered whole and the DKIM body hashes are done by the end of DATA;
 * - drops, from the header block before it is stored and indexed, every Authentication-Results
 *   field that claims our authserv-id (RFC 8601 5: such a field can only be a forgery, as ours
 *   is added at delivery); a header too long to buffer (over 64 KiB) that carries one is refused;
 * - at the end of DATA, resolves the DNS lookups (bounded by a deadline), and answers with the
 *   verdict: the header fields to add (Received-SPF and Authentication-Results, in the per-copy
 *   prefix next to Return-Path/Delivered-To, so the stored blob is never rewritten) and what to
 *   do: deliver, deliver into \Junk, or refuse with 550 5.7.1.
 * @module
 */
import { Resolver } from 'node:dns/promises';
import { PassThrough } from 'node:stream';
import { authenticate } from 'mailauth';
import type { AuthenticateResult, DMARCResult, DNSResolver } from 'mailauth';
import type { Config, DmarcAction } from '../config/types.js';
import { reply } from '../wire/smtp/index.js';
import type { SmtpReply } from '../wire/smtp/index.js';
import type { MessageInspector } from './message.js';

/** Whole-check deadline: RFC 7208 4.6.4 suggests at least 20 s for SPF alone. */
export const DEFAULT_MAIL_AUTH_TIMEOUT_MS = 30_000;
/** One DNS query: c-ares timeout and tries (the default would wait 4 x 5 s on a dead server). */
const DNS_TIMEOUT_MS = 5_000;
const DNS_TRIES = 2;

/** What the MX applies, from `[mail_auth]` and `[outbound] resolvers`. */
export interface MailAuthPolicy {
  /** RFC 8601 2.5 authserv-id: our hostname. */
  authservId: string;
  resolver: DNSResolver;
  dmarcReject: DmarcAction;
  dmarcQuarantine: DmarcAction;
  timeoutMs: number;
  /** RFC 7489 6.6.4 pct sampling; injectable for tests. */
  random: () => number;
}

/** The policy for the MX listener, or null when `[mail_auth] verify = false`. */
export function mailAuthPolicy(config: Config, overrides: Partial<MailAuthPolicy> = {}): MailAuthPolicy | null {
  if (!config.mailAuth.verify) return null;
  return {
    authservId: config.hostname,
    resolver: dnsResolver(config.outbound.resolvers),
    dmarcReject: config.mailAuth.dmarcReject,
    dmarcQuarantine: config.mailAuth.dmarcQuarantine,
    timeoutMs: DEFAULT_MAIL_AUTH_TIMEOUT_MS,
    random: Math.random,
    ...overrides,
  };
}

/** How long an answer (or "no such name / no such record") is reused; node:dns gives no TTLs for TXT. */
const DNS_CACHE_MS = 60_000;
const DNS_CACHE_ENTRIES = 10_000;
/** Definite answers, cached like records; anything else (SERVFAIL, timeouts) is asked again. */
const NEGATIVE_CODES: ReadonlySet<string> = new Set(['ENOTFOUND', 'ENODATA']);

/**
 * A mailauth resolver over node:dns, on the configured servers ("ip" or "ip:port"; none: the
 * system's). One message costs several lookups (SPF with its includes, DKIM keys, DMARC at the
 * domain and its organizational domain), mostly the same for every message from one sender, so
 * answers are kept for a minute (bounded), and concurrent identical queries share one lookup.
 */
export function dnsResolver(servers: readonly string[], now: () => number = Date.now): DNSResolver {
  const resolver = new Resolver({ timeout: DNS_TIMEOUT_MS, tries: DNS_TRIES });
  if (servers.length > 0) resolver.setServers([...servers]);
  const cache = new Map<string, { expires: number; answer: Promise<string[][] | string[]> }>();
  return (name, rrtype) => {
    const key = `${rrtype} ${name.toLowerCase()}`;
    const cached = cache.get(key);
    if (cached !== undefined && cached.expires > now()) return cached.answer;
    cache.delete(key);
    const answer = resolver.resolve(name, rrtype) as Promise<string[][] | string[]>;
    const entry = { expires: now() + DNS_CACHE_MS, answer };
    cache.set(key, entry);
    if (cache.size > DNS_CACHE_ENTRIES) cache.delete(cache.keys().next().value ?? key);
    answer.catch((err: unknown) => {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (!NEGATIVE_CODES.has(code) && cache.get(key) === entry) cache.delete(key);
    });
    return answer;
  };
}

export interface SmtpContext {
  /** The client's IP address. */
  ip: string;
  /** EHLO/HELO domain; null for an address literal (the IP is used). */
  helo: string | null;
  /** MAIL FROM reverse-path, "" for the null sender. */
  sender: string;
}

export type MailAuthAction = 'deliver' | 'junk' | 'reject';

export interface MailAuthVerdict {
  /** Header fields for every local copy (CRLF-terminated). */
  header: Buffer;
  action: MailAuthAction;
  /** The reply for `reject`. */
  reply: SmtpReply | null;
  /** For the log line. */
  summary: Record<string, string>;
}

/** The checks for one message (an IncomingMessage inspector). */
export class MailAuthCheck implements MessageInspector {
  readonly #policy: MailAuthPolicy;
  readonly #input = new PassThrough({ highWaterMark: 256 * 1024 });
  readonly #result: Promise<AuthenticateResult>;
  /** Set once mailauth stopped reading (finished early or failed): writes are then dropped. */
  #settled = false;
  #closed = false;
  #headerPassedThrough = false;
  #forgedRemoved = 0;

  constructor(policy: MailAuthPolicy, smtp: SmtpContext) {
    this.#policy = policy;
    this.#result = authenticate(this.#input, {
      ip: smtp.ip,
      ...(smtp.helo === null ? {} : { helo: smtp.helo }),
      sender: smtp.sender,
      mta: policy.authservId,
      resolver: policy.resolver,
      // BIMI fetches logos over HTTPS: not a delivery decision, not done here.
      disableBimi: true,
    });
    this.#result.then(
      () => (this.#settled = true),
      () => (this.#settled = true),
    );
  }

  /** The client's octets into mailauth; waits while it is behind. */
  async write(chunk: Buffer): Promise<void> {
    if (this.#settled || this.#closed) return;
    if (this.#input.write(chunk)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.#input.off('drain', done);
        this.#input.off('close', done);
        resolve();
      };
      this.#input.once('drain', done);
      this.#input.once('close', done);
      void this.#result.then(done, done);
    });
  }

  /** RFC 8601 5: Authentication-Results fields claiming our authserv-id are removed. */
  filterHeader(header: Buffer): Buffer {
    const fields = splitFields(header);
    const kept = fields.filter((field) => !claimsAuthservId(field, this.#policy.authservId));
    this.#forgedRemoved += fields.length - kept.length;
    return kept.length === fields.length ? header : Buffer.concat(kept);
  }

  headerPassedThrough(): void {
    this.#headerPassedThrough = true;
  }

  abort(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#input.destroy();
    // The rejection of the abandoned check is expected: nobody waits for it.
    this.#result.catch(() => undefined);
  }

  /** Forged fields removed from the header so far. */
  get forgedRemoved(): number {
    return this.#forgedRemoved;
  }

  /** Ends the input and waits for the results (at most the policy's deadline). */
  async finish(): Promise<MailAuthVerdict> {
    this.#closed = true;
    this.#input.end();
    let result: AuthenticateResult;
    try {
      result = await withDeadline(this.#result, this.#policy.timeoutMs);
    } catch (error) {
      return this.#temporaryFailure(error);
    }
    if (this.#headerPassedThrough && forgedFieldsIn(result, this.#policy.authservId) > 0) {
      return {
        header: Buffer.alloc(0),
        action: 'reject',
        reply: reply(554, '5.7.1', 'Header too long to check, and it carries Authentication-Results in our name'),
        summary: { forged: 'unremovable' },
      };
    }
    return this.#verdict(result);
  }

  #verdict(result: AuthenticateResult): MailAuthVerdict {
    const summary: Record<string, string> = {
      spf: result.spf ? result.spf.status.result : 'none',
      dkim: result.dkim.results.map((r) => `${r.signingDomain}:${r.status.result}`).join(',') || 'none',
      dmarc: result.dmarc ? result.dmarc.status.result : 'none',
      arc: result.arc ? result.arc.status.result : 'none',
    };
    if (this.#forgedRemoved > 0) summary.forgedRemoved = String(this.#forgedRemoved);
    const header = Buffer.from(traceFields(result.headers), 'utf8');
    const action = this.#dmarcAction(result.dmarc);
    if (action === 'reject') {
      const domain = result.dmarc ? result.dmarc.domain : '';
      return { header, action, reply: reply(550, '5.7.1', `Message rejected: DMARC policy of ${domain} (RFC 7489)`), summary };
    }
    return { header, action, reply: null, summary };
  }

  /** RFC 7489 6.6.4: p=reject / p=quarantine on failure, sampled by pct (else the next lower policy). */
  #dmarcAction(dmarc: DMARCResult | false): MailAuthAction {
    if (!dmarc || dmarc.status.result !== 'fail') return 'deliver';
    let policy = dmarc.policy;
    const pct = typeof dmarc.pct === 'number' ? dmarc.pct : 100;
    if (pct < 100 && this.#policy.random() * 100 >= pct) policy = policy === 'reject' ? 'quarantine' : 'none';
    if (policy === 'reject') return actionOf(this.#policy.dmarcReject);
    if (policy === 'quarantine') return actionOf(this.#policy.dmarcQuarantine);
    return 'deliver';
  }

  /** DNS down or too slow: the message is delivered, the results say so (RFC 8601 2.7: temperror). */
  #temporaryFailure(error: unknown): MailAuthVerdict {
    const reason = (error instanceof Error ? error.message : String(error)).replace(/[()\\\r\n]/g, ' ').slice(0, 200);
    const text = `Authentication-Results: ${this.#policy.authservId};\r\n\tspf=temperror (${reason});\r\n\tdkim=temperror;\r\n\tdmarc=temperror\r\n`;
    this.abort();
    return { header: Buffer.from(text, 'utf8'), action: 'deliver', reply: null, summary: { error: reason } };
  }
}

function actionOf(action: DmarcAction): MailAuthAction {
  return action === 'junk' ? 'junk' : action === 'reject' ? 'reject' : 'deliver';
}

async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`checks took longer than ${Math.round(ms / 1000)} s`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const OUR_FIELDS = /^(?:Received-SPF|Authentication-Results):/i;

/** Drops control characters other than HTAB (and DEL). */
function withoutControls(line: string): string {
  let out = '';
  for (const char of line) {
    const code = char.charCodeAt(0);
    if (code === 0x09 || (code >= 0x20 && code !== 0x7f)) out += char;
  }
  return out;
}
/** RFC 5322 2.1.1: at most 998 octets per line. */
const MAX_LINE = 998;

/**
 * mailauth's fields as header lines we can prepend safely: CRLF line ends, every line either
 * starts one of our two fields or is a continuation (values quoted from the message, such as a
 * DKIM selector, can never start a field of their own), no control characters, no overlong line.
 */
export function traceFields(text: string): string {
  const lines = text
    .split(/\r\n|\r|\n/)
    .map(withoutControls)
    .filter((line) => line.trim() !== '');
  return lines.map((line) => `${OUR_FIELDS.test(line) || /^[ \t]/.test(line) ? line : ` ${line}`}`.slice(0, MAX_LINE) + '\r\n').join('');
}

/** Header fields as raw byte ranges (a field with its continuation lines, each ending in CRLF or LF). */
function splitFields(header: Buffer): Buffer[] {
  const fields: Buffer[] = [];
  let start = 0;
  let at = 0;
  while (at < header.length) {
    let end = header.indexOf(0x0a, at);
    end = end === -1 ? header.length : end + 1;
    const next = header[end];
    // A field ends where the next line does not start with WSP (RFC 5322 2.2.3 folding).
    if (next !== 0x20 && next !== 0x09) {
      fields.push(header.subarray(start, end));
      start = end;
    }
    at = end;
  }
  if (start < header.length) fields.push(header.subarray(start));
  return fields;
}

const AUTH_RESULTS_NAME = /^authentication-results[ \t]*:/i;

/** Whether a raw field is Authentication-Results with the given authserv-id (RFC 8601 2.2, 2.5). */
function claimsAuthservId(field: Buffer, authservId: string): boolean {
  const text = field.toString('latin1');
  if (!AUTH_RESULTS_NAME.test(text)) return false;
  return authservIdOf(text.slice(text.indexOf(':') + 1)) === authservId.toLowerCase();
}

/** The authserv-id of an Authentication-Results value: the first token, comments and folding skipped. */
function authservIdOf(value: string): string {
  const unfolded = value.replace(/\r?\n/g, '');
  let text = '';
  let depth = 0;
  for (let i = 0; i < unfolded.length; i++) {
    const char = unfolded[i];
    if (char === '\\' && depth > 0) i++;
    else if (char === '(') depth++;
    else if (char === ')' && depth > 0) depth--;
    else if (depth === 0) text += char;
  }
  const token = /^[ \t]*("?)([^\s;"]*)\1/.exec(text);
  return (token?.[2] ?? '').toLowerCase();
}

/** Authentication-Results fields in our name that mailauth saw in the message. */
function forgedFieldsIn(result: AuthenticateResult, authservId: string): number {
  const parsed = result.dkim.headers?.parsed ?? [];
  return parsed.filter((field) => field.key === 'authentication-results' && claimsAuthservId(Buffer.from(field.line, 'latin1'), authservId)).length;
}
