/**
 * `mailhaven backup DIR` / `mailhaven restore DIR` for the embedded backend (SQLite + blob files,
 * docs/storage.md), safe while the server runs:
 *
 * 1. `VACUUM INTO` writes the database as of one read transaction: a consistent snapshot that
 *    never blocks the server's writers (WAL) and never restarts, however busy the server is.
 * 2. The blobs that snapshot references are copied. Blob files are immutable (named by their
 *    SHA-256), fsynced before the commit that references them, and deleted only after a grace
 *    period once unreferenced, so every blob of the snapshot is still there to copy.
 * 3. The server's key for stored shared secrets (secret.key) and its generated certificate
 *    (tls/) come along; a manifest records what the backup holds.
 *
 * Restore writes into an empty data directory only: stop the server, move the old directory
 * away, restore, start. PostgreSQL deployments use pg_dump instead (docs/deploy.md).
 * @module
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, cp, mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';

export const BACKUP_FORMAT = 'mailhaven-backup';
export const BACKUP_VERSION = 1;
const DATABASE_FILE = 'mailhaven.db';
const BLOB_DIR = 'blobs';
const MANIFEST_FILE = 'MANIFEST.json';
/** Files and folders of the data directory that travel with the database. */
const EXTRAS = ['secret.key', 'tls'];

export class BackupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupError';
  }
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  version: typeof BACKUP_VERSION;
  createdAt: string;
  hostname: string;
  /** PRAGMA user_version of the database copy (the store's schema version). */
  schemaVersion: number;
  accounts: number;
  messages: number;
  blobs: number;
  /** Octets of all blob files. */
  blobBytes: number;
}

export interface BackupOptions {
  dataDir: string;
  target: string;
  hostname: string;
  now?: () => Date;
}

export async function backupSqlite(options: BackupOptions): Promise<BackupManifest> {
  const source = join(options.dataDir, DATABASE_FILE);
  if (!existsSync(source)) throw new BackupError(`${source}: no database to back up`);
  await prepareEmptyDirectory(options.target, 'backup');
  // MANIFEST.json is written last: a directory without it is an interrupted backup.
  const database = join(options.target, DATABASE_FILE);
  snapshotDatabase(source, database);
  const { hashes, schemaVersion, accounts, messages } = readSnapshot(database);
  let blobBytes = 0;
  const missing: string[] = [];
  for (const hash of hashes) {
    const copied = await copyBlob(options.dataDir, options.target, hash);
    if (copied === null) missing.push(hash);
    else blobBytes += copied;
  }
  if (missing.length > 0) {
    throw new BackupError(`${missing.length} blob file(s) referenced by the database are missing from ${join(options.dataDir, BLOB_DIR)} (first: ${missing[0]}); the data directory is damaged`);
  }
  for (const extra of EXTRAS) {
    const from = join(options.dataDir, extra);
    if (existsSync(from)) await cp(from, join(options.target, extra), { recursive: true, preserveTimestamps: true });
  }
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    version: BACKUP_VERSION,
    createdAt: (options.now?.() ?? new Date()).toISOString(),
    hostname: options.hostname,
    schemaVersion,
    accounts,
    messages,
    blobs: hashes.length,
    blobBytes,
  };
  await syncTree(options.target);
  await writeDurably(join(options.target, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** One read transaction of the live database, written compactly to `target` (SQLite ≥ 3.27). */
function snapshotDatabase(source: string, target: string): void {
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 10000');
    db.prepare('VACUUM INTO ?').run(target);
  } finally {
    db.close();
  }
}

function readSnapshot(path: string): { hashes: string[]; schemaVersion: number; accounts: number; messages: number } {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const integrity = db.pragma('quick_check', { simple: true });
    if (integrity !== 'ok') throw new BackupError(`the database copy failed its integrity check: ${String(integrity)}`);
    const hasQueue = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'queue'").get() !== undefined;
    const sql = `SELECT blob_hash FROM messages${hasQueue ? ' UNION SELECT blob_hash FROM queue' : ''} ORDER BY 1`;
    const hashes = db.prepare(sql).pluck().all() as string[];
    return {
      hashes,
      schemaVersion: Number(db.pragma('user_version', { simple: true })),
      accounts: Number(db.prepare('SELECT count(*) FROM accounts').pluck().get()),
      messages: Number(db.prepare('SELECT count(*) FROM messages').pluck().get()),
    };
  } finally {
    db.close();
  }
}

/** Copies one blob; its size, or null when the source file is missing. */
async function copyBlob(dataDir: string, target: string, hash: string): Promise<number | null> {
  if (!/^[0-9a-f]{64}$/.test(hash)) throw new BackupError(`unexpected blob name ${hash}`);
  const relative = join(BLOB_DIR, hash.slice(0, 2), hash);
  const from = join(dataDir, relative);
  const to = join(target, relative);
  await mkdir(dirname(to), { recursive: true });
  try {
    await copyFile(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return (await stat(to)).size;
}

export interface RestoreOptions {
  source: string;
  dataDir: string;
  /** Re-hash every blob against its name (slower; catches damaged media). */
  verify?: boolean;
}

export async function restoreSqlite(options: RestoreOptions): Promise<BackupManifest> {
  const manifest = await readManifest(options.source);
  await prepareEmptyDirectory(options.dataDir, 'restore');
  const { hashes } = readSnapshot(join(options.source, DATABASE_FILE));
  for (const hash of hashes) {
    const relative = join(BLOB_DIR, hash.slice(0, 2), hash);
    if (!existsSync(join(options.source, relative))) throw new BackupError(`${options.source} is incomplete: blob ${hash} is missing`);
    if (options.verify && (await sha256File(join(options.source, relative))) !== hash) {
      throw new BackupError(`${options.source}: blob ${hash} is damaged (its content does not match its name)`);
    }
  }
  // Everything goes to a temporary folder beside the data directory first, then is moved in, so
  // an interrupted restore leaves no half-restored store for the server to start on.
  const staging = `${options.dataDir}.restoring-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await cp(options.source, staging, { recursive: true, preserveTimestamps: true, filter: (path) => !path.endsWith(MANIFEST_FILE) });
  await syncTree(staging);
  for (const name of await readdir(staging)) await rename(join(staging, name), join(options.dataDir, name));
  await rm(staging, { recursive: true, force: true });
  await syncPath(options.dataDir);
  return manifest;
}

export async function readManifest(source: string): Promise<BackupManifest> {
  let text: string;
  try {
    text = await readFile(join(source, MANIFEST_FILE), 'utf8');
  } catch {
    throw new BackupError(`${source} is not a Mailhaven backup (no ${MANIFEST_FILE}; an interrupted backup has none)`);
  }
  const manifest = JSON.parse(text) as Partial<BackupManifest>;
  if (manifest.format !== BACKUP_FORMAT || manifest.version !== BACKUP_VERSION) {
    throw new BackupError(`${source}: unknown backup format ${String(manifest.format)} version ${String(manifest.version)}`);
  }
  return manifest as BackupManifest;
}

/** A target that does not exist yet, or an empty directory. */
async function prepareEmptyDirectory(path: string, what: 'backup' | 'restore'): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(path, { recursive: true, mode: 0o700 });
    return;
  }
  if (entries.length > 0) {
    throw new BackupError(
      what === 'backup'
        ? `${path} is not empty: back up into a new directory`
        : `${path} is not empty: stop the server and move the old data directory away first`,
    );
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function writeDurably(path: string, content: string): Promise<void> {
  const temp = `${path}.tmp`;
  await writeFile(temp, content, { mode: 0o600 });
  await syncPath(temp);
  await rename(temp, path);
  await syncPath(dirname(path));
}

/** fsync every file and directory below `root`, so the copy survives a power cut once we report success. */
async function syncTree(root: string): Promise<void> {
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) await syncTree(path);
    else if (entry.isFile()) await syncPath(path);
  }
  await syncPath(root);
}

/** fsync of a file, or of a directory (its entries). */
async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
