/**
 * Where message bodies live. The SQLite backend keeps them as files (./files.ts); a PostgreSQL
 * backend may keep them in the database. The store drives a blob through three stages:
 * staged (written by a BlobWriter, not durable nor referenced) → promoted (durable under its final
 * name, right before the commit that references it) → released (the commit is done).
 * @module
 */
import type { Readable } from 'node:stream';
import type { BlobWriter, StagedBlob } from '../types.js';

export type SweepOutcome = 'removed' | 'missing' | 'kept';

export interface BlobStore {
  /** Creates directories; called once before use. */
  init(): Promise<void>;
  createWriter(): BlobWriter;
  /** True when `blob` was staged by this store and is neither promoted nor discarded yet. */
  isPending(blob: StagedBlob): boolean;
  /**
   * Makes each group's blobs durable under their final names. One entry per group: null when the
   * whole group is durable, or the error that stopped it (its staged files are then removed).
   */
  promote(groups: ReadonlyArray<readonly StagedBlob[]>): Promise<Array<Error | null>>;
  /** The commit referencing promoted blobs finished (or failed): drop the in-process "in use" mark. */
  release(blobs: readonly StagedBlob[]): void;
  /** Removes a staged blob that will never be promoted. */
  discard(blob: StagedBlob): Promise<void>;
  /** True while a blob with this hash is staged or being promoted by this process. */
  isInUse(hash: string): boolean;
  /** Bytes [start, end) of a blob, streamed. */
  open(hash: string, start: number, end: number): Promise<Readable>;
  /** Bytes [start, end) of a blob in memory: for small reads, cheaper than a stream. */
  read(hash: string, start: number, end: number): Promise<Buffer>;
  /**
   * Deletes an unreferenced blob unless it was written within `graceMs` (a concurrent writer,
   * possibly another process, may be about to commit a reference to it).
   */
  removeIfStale(hash: string, graceMs: number): Promise<SweepOutcome>;
  /** Every stored hash (for the orphan scan at recovery). */
  listHashes(): AsyncIterable<string>;
  /** Removes temporary files left by processes that are gone; returns how many. */
  removeAbandonedTemp(): Promise<number>;
  /** Removes this process's temporary directory. */
  close(): Promise<void>;
}
