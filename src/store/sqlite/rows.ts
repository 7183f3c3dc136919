/**
 * SQLite rows: the shared row shapes and conversions (../rows.ts), with keywords as JSON text
 * and the change-log row with its own ids.
 */
import type { ChangeRow as SharedChangeRow, MessageRow as SharedMessageRow } from '../rows.js';

export * from '../rows.js';

export interface MessageRow extends SharedMessageRow {
  keywords: string;
}

export interface ChangeRow extends SharedChangeRow {
  id: number;
  account_id: number;
}
