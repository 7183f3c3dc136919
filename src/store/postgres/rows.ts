/** PostgreSQL rows: the same shapes and conversions as SQLite (../rows.ts); keywords are a text[]. */
import type { MessageRow as SharedMessageRow } from '../rows.js';

export * from '../rows.js';

export interface MessageRow extends SharedMessageRow {
  keywords: string[];
}
