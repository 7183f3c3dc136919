/**
 * What a command handler gets: the process surroundings and a way to open the configured store
 * for the length of one command. The store is opened by src/compose.ts, the only module that
 * knows concrete backends.
 */
import type { Config } from '../config/types.js';
import type { MailStore } from '../store/types.js';
import type { CliIo } from './io.js';

export interface StoreSession {
  config: Config;
  store: MailStore;
}

export interface CliContext {
  io: CliIo;
  /** Loads the configuration (same discovery as the server) and the store; closes the store afterwards. */
  withStore<T>(configPath: string | undefined, run: (session: StoreSession) => Promise<T>): Promise<T>;
  /** Runs the server until it is stopped by a signal. */
  serve(configPath: string | undefined): Promise<void>;
  /**
   * Copies the configured SQLite installation into PostgreSQL at `url` (ids, UIDs, UIDVALIDITY,
   * MODSEQ kept); returns rows copied per table. Implemented in src/compose.ts.
   */
  migrateToPostgres(configPath: string | undefined, url: string, onProgress: (table: string, rows: number) => void): Promise<Record<string, number>>;
}

/** Options every command accepts (commander's merged globals). */
export interface CommonOptions {
  config?: string;
}
