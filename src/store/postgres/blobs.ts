/**
 * Message bodies in PostgreSQL, so nodes share nothing but the database (docs/postgres.md).
 *
 * - A writer streams the body into `blob_chunks` rows of `chunkSize` bytes (256 KiB) under a
 *   `blob_data` row in state `staged`, hashing as it goes. Each chunk is committed as it is
 *   written, so the bytes are durable before any transaction refers to them, and a large message
 *   never sits in memory.
 * - The transaction that first references the body calls `attach()`: it inserts the `blobs` row
 *   (hash → data, size, message index) and turns the data `stored`; when the same bytes are stored
 *   already it keeps the existing copy, takes a KEY SHARE lock on it so no sweeper can delete it
 *   before the commit, and drops the staged duplicate. Both happen in the caller's transaction: a
 *   rollback leaves the staged data as it was, and the store then discards it.
 * - Deleting a stored blob (`removeIfStale`) is refused by the database while a message or queue
 *   row references it (foreign keys), whichever node wrote that row: no grace period is needed.
 * - Staged data of writers that died is removed by `removeAbandonedTemp()` at recovery, once it
 *   has not been touched for `stagedGraceMs` (database clock: node clocks may disagree).
 *
 * The BlobStore interface is kept so an object store can replace the chunk tables later: it would
 * stage and promote objects, and `attach` would only write the `blobs` row.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type pg from 'pg';
import type { SweepOutcome, BlobStore } from '../blobs/types.js';
import type { BlobWriter, StagedBlob } from '../types.js';
import { StoreError } from '../types.js';
import type { Queryable } from './db.js';
import { binaryRows, row, rows, run, sqlState, storeErrorOf, transaction } from './db.js';

export const DEFAULT_CHUNK_SIZE = 256 * 1024;
const HASH = /^[0-9a-f]{64}$/;
const HANDLE = /^[1-9][0-9]{0,15}$/;

export interface PgBlobStoreOptions {
  pool: pg.Pool;
  /**
   * Pool for the writers' chunk inserts; default `pool`. The store gives one with
   * synchronous_commit=off: see `createWriter`.
   */
  stagingPool?: pg.Pool;
  /** Bytes per chunk row of new blobs (existing blobs keep theirs); default 256 KiB. */
  chunkSize?: number;
  /** Staged data untouched this long is a dead writer's (recovery removes it); default 1 hour. */
  stagedGraceMs?: number;
}

/** How a staged blob ended up in the referencing transaction. */
export type AttachOutcome = 'new' | 'existing';

const FIRST_CHUNK = `
  WITH d AS (INSERT INTO blob_data (state, owner) VALUES ('staged', $1) RETURNING id)
  INSERT INTO blob_chunks (data_id, seq, data) SELECT id, 0, $2::bytea FROM d RETURNING data_id`;
const NEXT_CHUNK = `
  WITH d AS (UPDATE blob_data SET touched_at = now() WHERE id = $1 AND state = 'staged' RETURNING id)
  INSERT INTO blob_chunks (data_id, seq, data) SELECT id, $2::integer, $3::bytea FROM d`;
const FINISH_NEW = `
  WITH d AS (INSERT INTO blob_data (state, owner, hash, size) VALUES ('staged', $1, $2, $3) RETURNING id),
       c AS (INSERT INTO blob_chunks (data_id, seq, data) SELECT id, 0, $4::bytea FROM d WHERE octet_length($4::bytea) > 0)
  SELECT id FROM d`;
const FINISH_EXISTING = `
  WITH d AS (UPDATE blob_data SET hash = $2, size = $3, touched_at = now() WHERE id = $1 AND state = 'staged' RETURNING id),
       c AS (INSERT INTO blob_chunks (data_id, seq, data) SELECT id, $4::integer, $5::bytea FROM d WHERE octet_length($5::bytea) > 0)
  SELECT id FROM d`;
/**
 * Inserts the blob row for staged data ($3) and marks the data stored, in one statement. No row
 * back: the hash is stored already (nothing changed). `stored` false: the staged data is gone.
 */
const ATTACH_NEW = `
  WITH staged AS (SELECT id FROM blob_data WHERE id = $3::bigint AND state = 'staged' AND hash = $1::text FOR UPDATE),
       ins AS (INSERT INTO blobs (hash, size, data_id, chunk_size, index_json, created_at)
               SELECT $1::text, $2::bigint, id, $4::integer, $5::text, $6::bigint FROM staged
               ON CONFLICT (hash) DO NOTHING RETURNING data_id),
       upd AS (UPDATE blob_data SET state = 'stored' WHERE id IN (SELECT data_id FROM ins) RETURNING id)
  SELECT EXISTS (SELECT 1 FROM upd) AS stored WHERE EXISTS (SELECT 1 FROM ins) OR NOT EXISTS (SELECT 1 FROM staged)`;

/** The part of every chunk that overlaps [$2, $3), in order. */
const READ_RANGE = `
  SELECT substring(c.data FROM (greatest($2::bigint - c.seq::bigint * b.chunk_size, 0) + 1)::integer
                          FOR (least($3::bigint - c.seq::bigint * b.chunk_size, b.chunk_size)
                               - greatest($2::bigint - c.seq::bigint * b.chunk_size, 0))::integer) AS part
    FROM blobs b JOIN blob_chunks c ON c.data_id = b.data_id
   WHERE b.hash = $1 AND c.seq >= $2::bigint / b.chunk_size AND c.seq <= ($3::bigint - 1) / b.chunk_size
   ORDER BY c.seq`;

export class PgBlobStore implements BlobStore {
  readonly chunkSize: number;
  /** Written into blob_data.owner: which store instance staged the data (diagnostics, recovery). */
  readonly owner = `${process.pid}-${randomBytes(6).toString('hex')}`;
  private readonly pool: pg.Pool;
  private readonly stagingPool: pg.Pool;
  private readonly stagedGraceMs: number;
  /** Staged blobs by handle, until promoted or discarded. */
  private readonly pending = new Map<string, StagedBlob>();
  /** Promoted blobs whose transaction has not settled them yet. */
  private readonly promoted = new Set<StagedBlob>();
  /** Staged or promoted blobs not yet released, counted per hash. */
  private readonly marked = new Set<StagedBlob>();
  private readonly inUse = new Map<string, number>();

  constructor(opts: PgBlobStoreOptions) {
    this.pool = opts.pool;
    this.stagingPool = opts.stagingPool ?? opts.pool;
    this.chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.stagedGraceMs = opts.stagedGraceMs ?? 60 * 60_000;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < 1 || this.chunkSize > 64 * 1024 * 1024) {
      throw new StoreError('invalid', `chunk size ${this.chunkSize} out of range`);
    }
  }

  /** The tables come with the schema migrations. */
  init(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Chunks go through the staging pool. With synchronous_commit=off there, a chunk's commit does
   * not wait for its WAL flush; the referencing transaction commits synchronously, and flushing
   * its commit record flushes all WAL before it, the chunks included. So the bytes are durable
   * exactly when a reference to them is, at one WAL flush per message instead of two or more. A
   * crash before that loses only staged data nothing refers to (the writer's attach then fails
   * with StoreError 'io', a temporary error).
   */
  createWriter(): BlobWriter {
    return new PgBlobWriter(this.stagingPool, this.chunkSize, this.owner, (blob) => this.registerStaged(blob), (blob) => this.discard(blob));
  }

  isPending(blob: StagedBlob): boolean {
    return this.pending.get(blob.handle) === blob;
  }

  isInUse(hash: string): boolean {
    return (this.inUse.get(hash) ?? 0) > 0;
  }

  /**
   * The bytes are durable already (committed chunk by chunk); promoting only checks that each blob
   * is a staged blob of this store not used before, and reserves it for one transaction.
   */
  promote(groups: ReadonlyArray<readonly StagedBlob[]>): Promise<Array<Error | null>> {
    const results = groups.map((group): Error | null => {
      const unknown = group.find((blob) => !this.isPending(blob));
      if (unknown) return new StoreError('invalid', 'staged blob unknown to this store, already used, or discarded');
      for (const blob of group) {
        this.pending.delete(blob.handle);
        this.promoted.add(blob);
      }
      return null;
    });
    return Promise.resolve(results);
  }

  release(blobs: readonly StagedBlob[]): void {
    for (const blob of blobs) {
      if (this.pending.get(blob.handle) === blob) continue; // still staged: its writer owns it
      this.unmark(blob);
    }
  }

  /**
   * Removes staged data that will never be referenced: a blob never promoted, or one whose
   * transaction failed or did not attach it (a delivery nobody accepted). Stored data is untouched.
   */
  async discard(blob: StagedBlob): Promise<void> {
    const wasPending = this.pending.get(blob.handle) === blob;
    if (!wasPending && !this.promoted.has(blob)) return;
    this.pending.delete(blob.handle);
    this.promoted.delete(blob);
    this.unmark(blob);
    await run(this.pool, "DELETE FROM blob_data WHERE id = $1 AND state = 'staged'", [dataIdOf(blob)]).catch(() => undefined);
  }

  /** The transaction of a promoted blob is over: attached blobs are stored, the others discarded. */
  async settle(blobs: readonly StagedBlob[], attached: ReadonlySet<StagedBlob>): Promise<void> {
    for (const blob of new Set(blobs)) {
      if (attached.has(blob)) {
        this.promoted.delete(blob);
        this.unmark(blob);
      } else {
        await this.discard(blob);
      }
    }
  }

  /**
   * Inside the referencing transaction: makes `blob` the stored body of its hash, or keeps the
   * stored copy of the same bytes (locked until the commit) and drops the staged duplicate.
   * `indexJson` is the message index of the bytes, stored with a new blob.
   */
  async attach(db: Queryable, blob: StagedBlob, indexJson: string, now: number): Promise<AttachOutcome> {
    if (!this.promoted.has(blob)) throw new StoreError('invalid', 'staged blob unknown to this store, already used, or discarded');
    const dataId = dataIdOf(blob);
    // Usually new bytes: one statement inserts the blob row and turns the data 'stored'. When the
    // hash is stored already, nothing is inserted; the stored copy is then locked and ours dropped.
    // A sweeper deleting that copy right now makes the lock wait and then find no row: insert again.
    for (let attempt = 0; attempt < 3; attempt++) {
      const inserted = await row<{ stored: boolean }>(db, ATTACH_NEW, [blob.hash, blob.size, dataId, this.chunkSize, indexJson, now]);
      if (inserted?.stored === true) return 'new';
      if (inserted?.stored === false) throw gone();
      const existing = await row(db, 'SELECT data_id FROM blobs WHERE hash = $1 FOR KEY SHARE', [blob.hash]);
      if (existing) {
        const dropped = await run(db, "DELETE FROM blob_data WHERE id = $1 AND state = 'staged' AND hash = $2", [dataId, blob.hash]);
        if (dropped !== 1) throw gone();
        return 'existing';
      }
    }
    throw new StoreError('busy', `blob ${blob.hash} kept changing while it was being stored`);
  }

  async open(hash: string, start: number, end: number): Promise<Readable> {
    const info = await this.describe(hash);
    const to = Math.min(Math.max(end, 0), info.size);
    const from = Math.min(Math.max(start, 0), to);
    return Readable.from(this.chunksOf(hash, info.chunkSize, from, to), { objectMode: false });
  }

  async read(hash: string, start: number, end: number): Promise<Buffer> {
    if (!HASH.test(hash)) throw new StoreError('invalid', `not a blob hash: ${hash}`);
    if (end <= start) {
      await this.describe(hash);
      return Buffer.alloc(0);
    }
    let parts: Array<{ part: Buffer }>;
    try {
      parts = await binaryRows<{ part: Buffer }>(this.pool, READ_RANGE, [hash, Math.max(start, 0), end]);
    } catch (err) {
      throw storeErrorOf(err);
    }
    if (parts.length === 0) await this.describe(hash); // missing blob → notFound; past the end → empty
    return parts.length === 1 ? (parts[0]?.part ?? Buffer.alloc(0)) : Buffer.concat(parts.map((p) => p.part));
  }

  /** One chunk's worth per query, fetched only as the reader asks for more. */
  private async *chunksOf(hash: string, chunkSize: number, from: number, to: number): AsyncGenerator<Buffer> {
    let at = from;
    while (at < to) {
      const stop = Math.min(to, (Math.floor(at / chunkSize) + 1) * chunkSize);
      let parts: Array<{ part: Buffer }>;
      try {
        parts = await binaryRows<{ part: Buffer }>(this.pool, READ_RANGE, [hash, at, stop]);
      } catch (err) {
        throw storeErrorOf(err);
      }
      const part = parts[0]?.part;
      if (!part || part.length === 0) throw new StoreError('notFound', `blob ${hash} is gone or shorter than expected`);
      yield part;
      at += part.length;
    }
  }

  private async describe(hash: string): Promise<{ size: number; chunkSize: number }> {
    if (!HASH.test(hash)) throw new StoreError('invalid', `not a blob hash: ${hash}`);
    let info: { size: number; chunk_size: number } | undefined;
    try {
      info = await row<{ size: number; chunk_size: number }>(this.pool, 'SELECT size, chunk_size FROM blobs WHERE hash = $1', [hash]);
    } catch (err) {
      throw storeErrorOf(err);
    }
    if (!info) throw new StoreError('notFound', `no blob ${hash}`);
    return { size: info.size, chunkSize: info.chunk_size };
  }

  /**
   * Deletes a stored blob and its bytes unless something references it: the foreign keys of
   * `messages` and `queue` make the database refuse ('kept'), on this node or any other. `graceMs`
   * is not needed for that and is ignored; a row lock held by a transaction attaching the same
   * bytes makes this wait (at most `lockTimeoutMs`, then 'kept').
   */
  async removeIfStale(hash: string, _graceMs: number, lockTimeoutMs = 5000): Promise<SweepOutcome> {
    if (!HASH.test(hash)) return 'kept';
    try {
      return await transaction(
        this.pool,
        async (client) => {
          await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}`);
          const removed = await row<{ data_id: number }>(client, 'DELETE FROM blobs WHERE hash = $1 RETURNING data_id', [hash]);
          if (!removed) return 'missing';
          await run(client, 'DELETE FROM blob_data WHERE id = $1', [removed.data_id]);
          return 'removed';
        },
        { attempts: 3 },
      );
    } catch (err) {
      if (err instanceof StoreError && (err.code === 'cannot' || err.code === 'busy')) return 'kept';
      if (sqlState(err) === '23503') return 'kept';
      throw err;
    }
  }

  async *listHashes(): AsyncIterable<string> {
    let after = '';
    for (;;) {
      const page = await rows<{ hash: string }>(this.pool, 'SELECT hash FROM blobs WHERE hash > $1 ORDER BY hash LIMIT 1000', [after]);
      for (const { hash } of page) yield hash;
      const last = page[page.length - 1];
      if (!last || page.length < 1000) return;
      after = last.hash;
    }
  }

  /**
   * Staged data of writers that are gone: untouched for `stagedGraceMs` and not this instance's
   * (a live writer touches its row with every chunk). Also data rows that neither a writer nor a
   * blob owns (a stored row whose blob went without it). Returns the number of data rows removed.
   */
  async removeAbandonedTemp(): Promise<number> {
    try {
      const staged = await run(
        this.pool,
        `DELETE FROM blob_data WHERE state = 'staged' AND owner <> $1
            AND touched_at < now() - make_interval(secs => $2::double precision / 1000)`,
        [this.owner, this.stagedGraceMs],
      );
      const unowned = await run(
        this.pool,
        "DELETE FROM blob_data d WHERE d.state = 'stored' AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.data_id = d.id)",
      );
      return staged + unowned;
    } catch (err) {
      throw storeErrorOf(err);
    }
  }

  /** Staged blobs never used are removed; data of blobs in a transaction stays (the store drains first). */
  async close(): Promise<void> {
    for (const blob of [...this.pending.values()]) await this.discard(blob);
  }

  private registerStaged(blob: StagedBlob): void {
    this.pending.set(blob.handle, blob);
    this.marked.add(blob);
    this.inUse.set(blob.hash, (this.inUse.get(blob.hash) ?? 0) + 1);
  }

  private unmark(blob: StagedBlob): void {
    if (!this.marked.delete(blob)) return;
    const count = (this.inUse.get(blob.hash) ?? 0) - 1;
    if (count > 0) this.inUse.set(blob.hash, count);
    else this.inUse.delete(blob.hash);
  }
}

/** Staged data removed under a writer (recovery judged it abandoned, or the server lost it in a crash). */
function gone(): StoreError {
  return new StoreError('io', 'staged message data is gone (removed as abandoned, or lost by the database server)');
}

function dataIdOf(blob: StagedBlob): number {
  if (!HANDLE.test(blob.handle)) throw new StoreError('invalid', 'not a staged blob of the database store');
  return Number(blob.handle);
}

type WriterState = 'open' | 'finished' | 'aborted' | 'failed';

/** Streams a body into chunk rows, hashing as it goes; `finish()` writes the rest and stages it. */
class PgBlobWriter implements BlobWriter {
  private dataId: number | null = null;
  private nextSeq = 0;
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private readonly hash = createHash('sha256');
  private written = 0;
  private state: WriterState = 'open';
  private staged: StagedBlob | null = null;
  /** Calls are serialized so a caller that forgets to await cannot interleave bytes. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly pool: pg.Pool,
    private readonly chunkSize: number,
    private readonly owner: string,
    private readonly onStaged: (blob: StagedBlob) => void,
    private readonly onDiscard: (blob: StagedBlob) => Promise<void>,
  ) {}

  get size(): number {
    return this.written;
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.serialize(async () => {
      this.expectOpen();
      // Copied: the caller may reuse its buffer once the promise resolves, and we keep ours longer.
      const copy = Buffer.from(chunk);
      this.hash.update(copy);
      this.written += copy.length;
      this.buffered.push(copy);
      this.bufferedBytes += copy.length;
      while (this.bufferedBytes >= this.chunkSize) await this.storeChunk(this.take(this.chunkSize));
    });
  }

  finish(): Promise<StagedBlob> {
    return this.serialize(async () => {
      this.expectOpen();
      const rest = this.take(this.bufferedBytes);
      const hash = this.hash.digest('hex');
      try {
        const finished =
          this.dataId === null
            ? await row<{ id: number }>(this.pool, FINISH_NEW, [this.owner, hash, this.written, rest])
            : await row<{ id: number }>(this.pool, FINISH_EXISTING, [this.dataId, hash, this.written, this.nextSeq, rest]);
        if (!finished) throw new StoreError('io', 'staged message data was removed while it was being written');
        this.dataId = finished.id;
      } catch (err) {
        await this.fail();
        throw storeErrorOf(err);
      }
      this.state = 'finished';
      const blob: StagedBlob = Object.freeze({ hash, size: this.written, handle: String(this.dataId) });
      this.staged = blob;
      this.onStaged(blob);
      return blob;
    });
  }

  /** Before finish: throws the bytes away. After finish: discards the staged blob unless it was used. */
  abort(): Promise<void> {
    return this.serialize(async () => {
      if (this.state === 'finished' && this.staged) {
        await this.onDiscard(this.staged);
        this.state = 'aborted';
        return;
      }
      if (this.state !== 'open') return;
      await this.fail();
      this.state = 'aborted';
    });
  }

  private async storeChunk(data: Buffer): Promise<void> {
    try {
      if (this.dataId === null) {
        const first = await row<{ data_id: number }>(this.pool, FIRST_CHUNK, [this.owner, data]);
        if (!first) throw new Error('chunk insert returned nothing');
        this.dataId = first.data_id;
      } else if ((await run(this.pool, NEXT_CHUNK, [this.dataId, this.nextSeq, data])) !== 1) {
        throw new StoreError('io', 'staged message data was removed while it was being written');
      }
      this.nextSeq++;
    } catch (err) {
      await this.fail();
      throw storeErrorOf(err);
    }
  }

  /** The first `bytes` buffered bytes as one Buffer. */
  private take(bytes: number): Buffer {
    const all = this.buffered.length === 1 ? (this.buffered[0] ?? Buffer.alloc(0)) : Buffer.concat(this.buffered);
    const taken = all.subarray(0, bytes);
    const rest = all.subarray(bytes);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.bufferedBytes = rest.length;
    return taken;
  }

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const next = this.chain.then(task, task);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private expectOpen(): void {
    if (this.state !== 'open') throw new StoreError('invalid', `blob writer is ${this.state}`);
  }

  /** Nothing partial stays behind. */
  private async fail(): Promise<void> {
    this.state = 'failed';
    this.buffered = [];
    this.bufferedBytes = 0;
    const dataId = this.dataId;
    this.dataId = null;
    if (dataId !== null) await run(this.pool, "DELETE FROM blob_data WHERE id = $1 AND state = 'staged'", [dataId]).catch(() => undefined);
  }
}
