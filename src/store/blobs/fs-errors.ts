/** Maps Node file-system errors onto StoreError codes, once, for every file the store touches. */
import { StoreError } from '../types.js';

export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

export function fsStoreError(err: unknown, what: string): StoreError {
  if (err instanceof StoreError) return err;
  const code = errnoCode(err);
  const detail = err instanceof Error ? err.message : String(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') return new StoreError('noSpace', `${what}: no space left (${detail})`);
  if (code === 'ENOENT') return new StoreError('notFound', `${what}: missing (${detail})`);
  return new StoreError('io', `${what}: ${detail}`);
}
