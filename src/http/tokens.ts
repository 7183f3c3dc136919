/**
 * Admin API bearer tokens: `mailhaven token create NAME` prints a token once; the store keeps
 * only its SHA-256. A token is 32 random bytes (256 bits) in base64url behind the "mh_" prefix,
 * so guessing is hopeless and a hash without salt or stretching is enough to make a stolen
 * database useless for logging in (unlike passwords, there is no small space to search).
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { AdminError } from '../admin/errors.js';
import type { AdminToken, AdminTokens } from '../store/types.js';
import { StoreError } from '../store/types.js';

export const TOKEN_PREFIX = 'mh_';
const TOKEN_BYTES = 32;
/** "mh_" + 43 base64url characters. */
const TOKEN_SHAPE = /^mh_[A-Za-z0-9_-]{43}$/;
const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** lastUsedAt is refreshed at most this often per token: a write per request would cost an fsync each. */
const TOUCH_INTERVAL_MS = 60_000;

/** A token as listed: never the token, never its hash. */
export interface TokenInfo {
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface CreatedToken {
  /** Shown once; not stored anywhere. */
  token: string;
  info: TokenInfo;
}

export function generateToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(TOKEN_BYTES).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export interface TokenOperationsOptions {
  now?: () => number;
  /** Called when recording a token's use failed (the request itself still succeeds). */
  onTouchError?: (err: unknown) => void;
}

export class TokenOperations {
  private readonly now: () => number;

  constructor(
    private readonly store: AdminTokens,
    private readonly options: TokenOperationsOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  async create(name: string): Promise<CreatedToken> {
    checkName(name);
    const token = generateToken();
    try {
      const stored = await this.store.addAdminToken(name, hashToken(token));
      return { token, info: tokenInfo(stored) };
    } catch (err) {
      if (err instanceof StoreError && err.code === 'exists') throw new AdminError('exists', `token ${name} already exists`);
      throw err instanceof StoreError ? new AdminError('store', `store: ${err.message}`) : err;
    }
  }

  async list(): Promise<TokenInfo[]> {
    return (await this.store.listAdminTokens()).map(tokenInfo);
  }

  async revoke(name: string): Promise<void> {
    checkName(name);
    try {
      await this.store.deleteAdminToken(name);
    } catch (err) {
      if (err instanceof StoreError && err.code === 'notFound') throw new AdminError('notFound', `no such token: ${name}`);
      throw err instanceof StoreError ? new AdminError('store', `store: ${err.message}`) : err;
    }
  }

  /**
   * The stored token for a presented one, or null. Malformed tokens are refused before any
   * lookup. The lookup is by hash: comparing hashes of a 256-bit secret leaks nothing useful
   * through timing.
   */
  async verify(presented: string): Promise<AdminToken | null> {
    if (!TOKEN_SHAPE.test(presented)) return null;
    const token = await this.store.findAdminTokenByHash(hashToken(presented));
    if (token === null) return null;
    const now = this.now();
    if (token.lastUsedAt === null || now - token.lastUsedAt.getTime() >= TOUCH_INTERVAL_MS) {
      this.store.touchAdminToken(token.id, new Date(now)).catch((err: unknown) => this.options.onTouchError?.(err));
    }
    return token;
  }
}

function checkName(name: string): void {
  if (!TOKEN_NAME.test(name)) {
    throw new AdminError('usage', `invalid token name "${name}": 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  }
}

function tokenInfo(token: AdminToken): TokenInfo {
  return { name: token.name, createdAt: token.createdAt.toISOString(), lastUsedAt: token.lastUsedAt?.toISOString() ?? null };
}
