/**
 * Local delivery: one staged blob to many local accounts in one store transaction. Each copy gets
 * its own Return-Path and Delivered-To lines (RFC 5321 4.4) as a per-copy prefix, so the body bytes
 * are stored once however many local recipients there are.
 */
import type { MessageIndex } from '../mime/types.js';
import type { DeliveryOutcome, Messages, StagedBlob } from '../store/types.js';
import type { LocalTarget } from './resolve.js';

export interface LocalDeliveryRequest {
  /** Reverse-path without angle brackets; "" for the null sender. */
  sender: string;
  targets: LocalTarget[];
  internalDate?: Date;
}

export interface LocalDeliveryResult {
  target: LocalTarget;
  outcome: DeliveryOutcome;
}

export function deliveryPrefix(sender: string, recipient: string): Buffer {
  return Buffer.from(`Return-Path: <${sender}>\r\nDelivered-To: ${recipient}\r\n`, 'utf8');
}

export async function deliverLocally(
  store: Messages,
  blob: StagedBlob,
  index: MessageIndex,
  request: LocalDeliveryRequest,
): Promise<LocalDeliveryResult[]> {
  const unique = dedupeByAccount(request.targets);
  const outcomes = await store.deliver(
    blob,
    index,
    unique.map((target) => ({ accountId: target.accountId, prefix: deliveryPrefix(request.sender, target.address) })),
    request.internalDate,
  );
  return unique.map((target, i) => ({ target, outcome: outcomes[i] ?? { ok: false, reason: 'noAccount' } }));
}

function dedupeByAccount(targets: LocalTarget[]): LocalTarget[] {
  const seen = new Map<number, LocalTarget>();
  for (const target of targets) if (!seen.has(target.accountId)) seen.set(target.accountId, target);
  return [...seen.values()];
}
