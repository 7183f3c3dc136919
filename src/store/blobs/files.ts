/**
 * Blobs as files: `<dataDir>/blobs/ab/<sha256hex>`, staged under `<dataDir>/tmp/<pid>-<random>/`.
 *
 * Durability order (docs/storage.md): the staged file is fsynced by `finish()`; `promote()` renames it
 * to its final name and fsyncs the directory; only then may the database commit a row naming it.
 * A rename always happens, even when the final name exists already: the new file carries a fresh
 * mtime, which is what the garbage collector's grace period looks at (see `removeIfStale`).
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { StoreError } from '../types.js';
import type { BlobWriter, StagedBlob } from '../types.js';
import type { BlobStore, SweepOutcome } from './types.js';
import { errnoCode, fsStoreError } from './fs-errors.js';

const HASH_NAME = /^[0-9a-f]{64}$/;
const INSTANCE_DIR = /^(\d+)-[0-9a-f]+$/;
/** A blob moved aside by removeIfStale: gc-<hash>-<random>. */
const SET_ASIDE = /^gc-([0-9a-f]{64})-[0-9a-f]+$/;

/** The durability steps, in the order they must happen for one message (docs/storage.md). */
export type DurabilityEvent = 'blobSynced' | 'blobRenamed' | 'dirSynced' | 'committed';
export type DurabilityTrace = (event: DurabilityEvent, detail: string) => void;

/** What a blob writer does with its staged file (a node FileHandle has exactly this). */
export interface BlobFile {
  write(buffer: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The OS boundary of the write path: every call that makes a message durable (create, write,
 * fsync, utimes, rename, directory fsync) and the unlink that cleans up after a failure goes
 * through this object, so fault-injection tests (test/fault-fsync.test.ts) can wrap it and fail a
 * chosen call with EIO or ENOSPC. Production always uses `nodeBlobFs`: the only way to pass
 * another one is code (FileBlobStoreOptions.fs), never the configuration, and it costs one
 * property lookup per call.
 */
export interface BlobFs {
  /** Creates a new file for writing; fails if it exists (O_EXCL: never write into someone else's file). */
  createExclusive(path: string): Promise<BlobFile>;
  utimes(path: string, atimeSeconds: number, mtimeSeconds: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** fsync of a directory, so the entries created or renamed in it are durable. */
  syncDir(path: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

export const nodeBlobFs: BlobFs = Object.freeze({
  createExclusive: (path: string): Promise<BlobFile> => open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600),
  utimes: (path: string, atimeSeconds: number, mtimeSeconds: number) => utimes(path, atimeSeconds, mtimeSeconds),
  rename: (from: string, to: string) => rename(from, to),
  syncDir: (path: string) => fsyncDir(path),
  unlink: (path: string) => unlink(path),
});

export interface FileBlobStoreOptions {
  dataDir: string;
  /** Clock for mtimes and the grace period, in milliseconds (tests move it). */
  now?: () => number;
  /** Observer of the durability steps (tests check their order). */
  trace?: DurabilityTrace;
  /** The write path's file-system calls; default nodeBlobFs (fault-injection tests wrap it). */
  fs?: BlobFs;
}

export class FileBlobStore implements BlobStore {
  readonly blobDir: string;
  readonly tmpRoot: string;
  /** This instance's staging directory; other processes (the CLI) have their own. */
  readonly tmpDir: string;
  private readonly dataDir: string;
  private readonly now: () => number;
  private readonly trace: DurabilityTrace;
  private readonly fs: BlobFs;
  /** Staged blobs by temp path, until promoted or discarded. */
  private readonly pending = new Map<string, StagedBlob>();
  /** Staged blobs not yet released (staged, or promoted and waiting for their commit). */
  private readonly marked = new Set<StagedBlob>();
  /** Hashes of the marked blobs, with a count (identical bytes may be staged twice). */
  private readonly inUse = new Map<string, number>();

  constructor(opts: FileBlobStoreOptions) {
    this.dataDir = opts.dataDir;
    this.now = opts.now ?? Date.now;
    this.trace = opts.trace ?? (() => undefined);
    this.fs = opts.fs ?? nodeBlobFs;
    this.blobDir = join(opts.dataDir, 'blobs');
    this.tmpRoot = join(opts.dataDir, 'tmp');
    this.tmpDir = join(this.tmpRoot, `${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  async init(): Promise<void> {
    try {
      const createdBlobDir = await mkdirFresh(this.blobDir);
      const createdTmpRoot = await mkdirFresh(this.tmpRoot);
      const createdTop = createdBlobDir || createdTmpRoot;
      let createdFanout = false;
      for (let i = 0; i < 256; i++) {
        if (await mkdirFresh(join(this.blobDir, fanout(i)))) createdFanout = true;
      }
      await mkdir(this.tmpDir);
      // New directory entries are durable only once their parent directory is fsynced.
      if (createdTop) await fsyncDir(this.dataDir);
      if (createdFanout) await fsyncDir(this.blobDir);
    } catch (err) {
      throw fsStoreError(err, 'creating blob directories');
    }
  }

  createWriter(): BlobWriter {
    const path = join(this.tmpDir, randomBytes(12).toString('hex'));
    return new FileBlobWriter(
      this.fs,
      path,
      (blob) => {
        this.trace('blobSynced', blob.hash);
        this.registerStaged(blob);
      },
      (blob) => this.discard(blob),
    );
  }

  isPending(blob: StagedBlob): boolean {
    return this.pending.get(blob.handle) === blob;
  }

  isInUse(hash: string): boolean {
    return (this.inUse.get(hash) ?? 0) > 0;
  }

  pathOf(hash: string): string {
    return join(this.blobDir, hash.slice(0, 2), hash);
  }

  async promote(groups: ReadonlyArray<readonly StagedBlob[]>): Promise<Array<Error | null>> {
    const results: Array<Error | null> = groups.map(() => null);
    const dirsOfGroup = groups.map(() => new Set<string>());
    // Renames and directory fsyncs run in parallel: the thread pool overlaps them.
    await Promise.all(
      groups.map(async (group, i) => {
        try {
          for (const blob of group) dirsOfGroup[i]?.add(await this.moveIntoPlace(blob));
        } catch (err) {
          results[i] = fsStoreError(err, 'storing message');
          await this.removeStagedFiles(group);
        }
      }),
    );
    // One fsync per directory for the whole batch, however many blobs landed in it.
    const dirErrors = new Map<string, Error>();
    await Promise.all(
      [...new Set(dirsOfGroup.flatMap((dirs) => [...dirs]))].map(async (dir) => {
        try {
          await this.fs.syncDir(dir);
          this.trace('dirSynced', dir);
        } catch (err) {
          dirErrors.set(dir, fsStoreError(err, 'syncing blob directory'));
        }
      }),
    );
    for (const [i, dirs] of dirsOfGroup.entries()) {
      for (const dir of dirs) {
        const err = dirErrors.get(dir);
        if (err && results[i] === null) results[i] = err;
      }
    }
    return results;
  }

  release(blobs: readonly StagedBlob[]): void {
    for (const blob of blobs) {
      if (this.pending.get(blob.handle) === blob) continue; // still staged: its writer owns it
      this.unmark(blob);
    }
  }

  async discard(blob: StagedBlob): Promise<void> {
    if (this.pending.get(blob.handle) !== blob) return;
    this.pending.delete(blob.handle);
    this.unmark(blob);
    await this.fs.unlink(blob.handle).catch(() => undefined);
  }

  async open(hash: string, start: number, end: number): Promise<Readable> {
    if (!HASH_NAME.test(hash)) throw new StoreError('invalid', `not a blob hash: ${hash}`);
    let handle: FileHandle;
    try {
      handle = await open(this.pathOf(hash), 'r');
    } catch (err) {
      throw fsStoreError(err, `opening blob ${hash}`);
    }
    if (end <= start) {
      await handle.close();
      return Readable.from([]);
    }
    // createReadStream's `end` is inclusive.
    return handle.createReadStream({ start, end: end - 1, autoClose: true });
  }

  async read(hash: string, start: number, end: number): Promise<Buffer> {
    if (!HASH_NAME.test(hash)) throw new StoreError('invalid', `not a blob hash: ${hash}`);
    const length = Math.max(end - start, 0);
    let handle: FileHandle | null = null;
    try {
      handle = await open(this.pathOf(hash), 'r');
      const out = Buffer.allocUnsafe(length);
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await handle.read(out, filled, length - filled, start + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled === length ? out : out.subarray(0, filled);
    } catch (err) {
      throw fsStoreError(err, `reading blob ${hash}`);
    } finally {
      await handle?.close().catch(() => undefined);
    }
  }

  async removeIfStale(hash: string, graceMs: number): Promise<SweepOutcome> {
    if (!HASH_NAME.test(hash) || this.isInUse(hash)) return 'kept';
    const path = this.pathOf(hash);
    const before = await statOrNull(path);
    if (!before) return 'missing';
    if (!this.isStale(before.mtimeMs, graceMs)) return 'kept';
    // Move it aside first, then look again: if a writer (this or another process) renamed a fresh
    // copy into place between our stat and the move, the moved file is that fresh copy: put it back.
    const aside = join(this.tmpDir, `gc-${hash}-${randomBytes(4).toString('hex')}`);
    try {
      await rename(path, aside);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return 'missing';
      throw fsStoreError(err, `removing blob ${hash}`);
    }
    const moved = await statOrNull(aside);
    if (moved && !this.isStale(moved.mtimeMs, graceMs)) {
      await rename(aside, path);
      return 'kept';
    }
    await unlink(aside).catch(() => undefined);
    return 'removed';
  }

  async *listHashes(): AsyncIterable<string> {
    for (let i = 0; i < 256; i++) {
      let names: string[];
      try {
        names = await readdir(join(this.blobDir, fanout(i)));
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') continue;
        throw fsStoreError(err, 'listing blobs');
      }
      for (const name of names.sort()) if (HASH_NAME.test(name)) yield name;
    }
  }

  async removeAbandonedTemp(): Promise<number> {
    let removed = 0;
    let entries: string[];
    try {
      entries = await readdir(this.tmpRoot);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return 0;
      throw fsStoreError(err, 'listing temporary files');
    }
    for (const name of entries) {
      const path = join(this.tmpRoot, name);
      if (path === this.tmpDir) continue;
      const owner = INSTANCE_DIR.exec(name);
      if (owner && processAlive(Number(owner[1]))) continue; // a live process (the CLI) is using it
      if (owner) await this.restoreSetAside(path);
      removed += await countFiles(path);
      await rm(path, { recursive: true, force: true });
    }
    return removed;
  }

  /**
   * A process killed in the middle of removeIfStale may have left a blob set aside in its temp
   * directory. Put it back when its final name is free: a commit of another process may name it,
   * and the orphan scan that follows removes it if nothing does.
   */
  private async restoreSetAside(dir: string): Promise<void> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const hash = SET_ASIDE.exec(name)?.[1];
      if (!hash) continue;
      if (await statOrNull(this.pathOf(hash))) continue;
      await rename(join(dir, name), this.pathOf(hash)).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    for (const blob of [...this.pending.values()]) await this.discard(blob);
    await rm(this.tmpDir, { recursive: true, force: true });
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

  /** Renames one staged blob to its final name; returns the directory to fsync. */
  private async moveIntoPlace(blob: StagedBlob): Promise<string> {
    if (this.pending.get(blob.handle) !== blob) {
      throw new StoreError('invalid', 'staged blob unknown to this store, already used, or discarded');
    }
    const seconds = this.now() / 1000;
    // A fresh mtime on the file that takes the final name is what protects it from the GC's grace check.
    await this.fs.utimes(blob.handle, seconds, seconds);
    const target = this.pathOf(blob.hash);
    await this.fs.rename(blob.handle, target);
    this.trace('blobRenamed', blob.hash);
    this.pending.delete(blob.handle);
    return join(this.blobDir, blob.hash.slice(0, 2));
  }

  private async removeStagedFiles(group: readonly StagedBlob[]): Promise<void> {
    for (const blob of group) {
      if (this.pending.get(blob.handle) !== blob) continue;
      this.pending.delete(blob.handle);
      await this.fs.unlink(blob.handle).catch(() => undefined);
    }
  }

  private isStale(mtimeMs: number, graceMs: number): boolean {
    return mtimeMs <= this.now() - graceMs;
  }
}

type WriterState = 'open' | 'finished' | 'aborted' | 'failed';

/** Streams a body to a temp file, hashing as it goes; `finish()` fsyncs and stages it. */
class FileBlobWriter implements BlobWriter {
  private handle: BlobFile | null = null;
  private readonly hash = createHash('sha256');
  private written = 0;
  private state: WriterState = 'open';
  private staged: StagedBlob | null = null;
  /** Calls are serialized so a caller that forgets to await cannot interleave bytes. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly fs: BlobFs,
    private readonly path: string,
    private readonly onStaged: (blob: StagedBlob) => void,
    private readonly onDiscard: (blob: StagedBlob) => Promise<void>,
  ) {}

  get size(): number {
    return this.written;
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.serialize(async () => {
      this.expectOpen();
      const handle = await this.openFile();
      try {
        let offset = 0;
        while (offset < chunk.byteLength) {
          const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
          offset += bytesWritten;
        }
      } catch (err) {
        await this.fail();
        throw fsStoreError(err, 'writing message');
      }
      this.hash.update(chunk);
      this.written += chunk.byteLength;
    });
  }

  finish(): Promise<StagedBlob> {
    return this.serialize(async () => {
      this.expectOpen();
      const handle = await this.openFile();
      try {
        await handle.sync();
        await handle.close();
        this.handle = null;
      } catch (err) {
        await this.fail();
        throw fsStoreError(err, 'syncing message');
      }
      this.state = 'finished';
      const blob: StagedBlob = Object.freeze({ hash: this.hash.digest('hex'), size: this.written, handle: this.path });
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

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const next = this.chain.then(task, task);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private expectOpen(): void {
    if (this.state !== 'open') throw new StoreError('invalid', `blob writer is ${this.state}`);
  }

  private async openFile(): Promise<BlobFile> {
    if (this.handle) return this.handle;
    try {
      this.handle = await this.fs.createExclusive(this.path);
    } catch (err) {
      this.state = 'failed';
      throw fsStoreError(err, 'creating temporary file');
    }
    return this.handle;
  }

  /** Nothing partial stays behind: close and remove the temp file. */
  private async fail(): Promise<void> {
    this.state = 'failed';
    const handle = this.handle;
    this.handle = null;
    if (handle) await handle.close().catch(() => undefined);
    await this.fs.unlink(this.path).catch(() => undefined);
  }
}

function fanout(i: number): string {
  return i.toString(16).padStart(2, '0');
}

/** mkdir that reports whether it created the directory. */
async function mkdirFresh(path: string): Promise<boolean> {
  try {
    await mkdir(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    if (errnoCode(err) === 'ENOENT') {
      await mkdir(path, { recursive: true });
      return true;
    }
    throw err;
  }
}

export async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function statOrNull(path: string): Promise<{ mtimeMs: number } | null> {
  try {
    return await stat(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw fsStoreError(err, `stat ${path}`);
  }
}

function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return errnoCode(err) === 'EPERM';
  }
}

async function countFiles(path: string): Promise<number> {
  try {
    const info = await stat(path);
    if (!info.isDirectory()) return 1;
    const names = await readdir(path);
    let total = 0;
    for (const name of names) total += await countFiles(join(path, name));
    return total;
  } catch {
    return 0;
  }
}
