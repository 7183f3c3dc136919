/**
 * POP3 exclusive access across nodes (RFC 1939 4: "the POP3 server then acquires an
 * exclusive-access lock on the maildrop"): PostgreSQL session advisory locks, one per account,
 * held on one dedicated connection per node. It has the shape of pop3/lock.ts `MaildropLocks`, so
 * the composition root can hand it to the POP3 handler instead of the in-process locks.
 *
 * - A second session of the same account, on this node or any other, gets null (`-ERR [IN-USE]`).
 * - A node that dies loses its connection, and PostgreSQL releases its locks with it: a crashed
 *   node never keeps a maildrop locked.
 * - If the lock connection itself is lost while the node lives, its locks are gone too; the
 *   sessions holding leases keep them locally (this node still refuses a second session), and the
 *   connection is opened again for the next acquisition. Other nodes could, in that window, open
 *   the same maildrop: a rare event, and RFC 1939 sessions re-check message state on every command.
 * @module
 */
import pg from 'pg';
import type { ClientConfig } from 'pg';
import type { Id } from '../types.js';
import { StoreError } from '../types.js';
import { storeErrorOf } from './db.js';

/** Advisory lock class of POP3 maildrops (first key of the two-int form). */
const MAILDROP_LOCK_CLASS = 0x6d70;
const MAX_INT4 = 0x7fffffff;

export interface MaildropLease {
  readonly accountId: Id;
  /** Gives the maildrop back. Idempotent. */
  release(): Promise<void>;
}

export class PostgresMaildropLocks {
  private readonly holders = new Map<Id, string>();
  private client: pg.Client | null = null;
  private connecting: Promise<pg.Client> | null = null;
  /** Queries on the lock connection run one at a time, in order. */
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly connection: ClientConfig) {}

  /** The lease, or null when another session (on any node) has the maildrop. Never waits for it. */
  async tryAcquire(accountId: Id, holder: string): Promise<MaildropLease | null> {
    if (this.closed) throw new StoreError('cannot', 'maildrop locks are closed');
    if (!Number.isSafeInteger(accountId) || accountId < 1 || accountId > MAX_INT4) throw new StoreError('invalid', `account id ${accountId}`);
    if (this.holders.has(accountId)) return null;
    this.holders.set(accountId, holder); // reserved locally while the database answers
    let locked = false;
    try {
      locked = await this.query<boolean>('SELECT pg_try_advisory_lock($1, $2) AS locked', [MAILDROP_LOCK_CLASS, accountId]);
    } finally {
      if (!locked) this.holders.delete(accountId);
    }
    if (!locked) return null;
    let released = false;
    return {
      accountId,
      release: async () => {
        if (released) return;
        released = true;
        if (this.holders.get(accountId) === holder) this.holders.delete(accountId);
        await this.query('SELECT pg_advisory_unlock($1, $2) AS unlocked', [MAILDROP_LOCK_CLASS, accountId]).catch(() => undefined);
      },
    };
  }

  /** Who holds an account's maildrop on this node (tests, diagnostics). */
  holderOf(accountId: Id): string | null {
    return this.holders.get(accountId) ?? null;
  }

  /** Releases every lock of this node (closing the connection does). */
  async close(): Promise<void> {
    this.closed = true;
    this.holders.clear();
    const client = this.client ?? (await this.connecting?.catch(() => null)) ?? null;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  private query<T>(text: string, values: unknown[]): Promise<T> {
    const run = async (): Promise<T> => {
      try {
        const client = await this.connect();
        const result = await client.query<Record<string, T>>({ text, values });
        return Object.values(result.rows[0] ?? {})[0] as T;
      } catch (err) {
        throw storeErrorOf(err);
      }
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private connect(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const client = new pg.Client({ ...this.connection, application_name: 'mailhaven-locks' });
      client.on('error', () => {
        // The server dropped us: our advisory locks are gone; the next call reconnects.
        if (this.client === client) this.client = null;
      });
      client.on('end', () => {
        if (this.client === client) this.client = null;
      });
      try {
        await client.connect();
      } catch (err) {
        await client.end().catch(() => undefined);
        throw err;
      }
      this.client = client;
      return client;
    })().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }
}
