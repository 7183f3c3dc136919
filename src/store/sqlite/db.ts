/**
 * A thin typed layer over better-sqlite3: prepared statements cached by SQL text, rows typed by
 * the caller, SQLite error codes mapped onto StoreError once.
 * @module
 */
import type Database from 'better-sqlite3';
import { StoreError } from '../types.js';

export type SqlValue = number | string | bigint | Buffer | Uint8Array | null;

export class Sql {
  private readonly cache = new Map<string, Database.Statement>();

  constructor(readonly db: Database.Database) {}

  get<T>(sql: string, ...params: SqlValue[]): T | undefined {
    return this.stmt(sql).get(...params) as T | undefined;
  }

  all<T>(sql: string, ...params: SqlValue[]): T[] {
    return this.stmt(sql).all(...params) as T[];
  }

  run(sql: string, ...params: SqlValue[]): Database.RunResult {
    return this.stmt(sql).run(...params);
  }

  /** Single-column value of the first row, or undefined. */
  value<T extends SqlValue>(sql: string, ...params: SqlValue[]): T | undefined {
    return this.stmt(sql, true).get(...params) as T | undefined;
  }

  /** Single column of every row. */
  column<T extends SqlValue>(sql: string, ...params: SqlValue[]): T[] {
    return this.stmt(sql, true).all(...params) as T[];
  }

  exec(sql: string): void {
    this.db.exec(sql);
  }

  /** Plucking statements are cached apart: pluck() changes a statement for good. */
  private stmt(sql: string, pluck = false): Database.Statement {
    const key = pluck ? `pluck:${sql}` : sql;
    let stmt = this.cache.get(key);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      if (pluck) stmt.pluck(true);
      this.cache.set(key, stmt);
    }
    return stmt;
  }
}

function sqliteCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    if (typeof code === 'string' && code.startsWith('SQLITE_')) return code;
  }
  return undefined;
}

/** SQLITE_BUSY and its extended codes (SQLITE_BUSY_SNAPSHOT...); SQLITE_LOCKED is the shared-cache twin. */
export function isBusy(err: unknown): boolean {
  const code = sqliteCode(err);
  return code !== undefined && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** Maps a SQLite failure to a StoreError; other errors (StoreError, bugs) pass through. */
export function storeErrorOf(err: unknown): unknown {
  if (err instanceof StoreError) return err;
  const code = sqliteCode(err);
  if (code === undefined) return err;
  const message = err instanceof Error ? err.message : code;
  if (isBusy(err)) return new StoreError('busy', `database busy: ${message}`);
  if (code === 'SQLITE_FULL') return new StoreError('noSpace', `database: ${message}`);
  if (code.startsWith('SQLITE_IOERR') || code === 'SQLITE_CORRUPT' || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY') {
    return new StoreError('io', `database ${code}: ${message}`);
  }
  if (code.startsWith('SQLITE_CONSTRAINT_UNIQUE') || code.startsWith('SQLITE_CONSTRAINT_PRIMARYKEY')) {
    return new StoreError('exists', message);
  }
  return err;
}
