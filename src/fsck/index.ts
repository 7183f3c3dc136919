/**
 * `mailhaven fsck`: check the store, optionally repair what can be repaired without losing mail,
 * then check again so the report says what is left. See docs/reliability.md.
 * @module
 */
import type { FsckRepair, StoreChecker } from '../store/checker.js';
import { checkStore } from './checks.js';
import type { CheckStats, Finding } from './checks.js';

export type { Finding, Severity, CheckStats } from './checks.js';

export interface FsckOptions {
  /** Hash every referenced blob (reads every byte of every message). */
  deep?: boolean;
  /** Apply the repairs the first pass names, then check again. */
  repair?: boolean;
  /** Messages listed per finding, at most; default 10. */
  sampleLimit?: number;
}

export interface FsckReport {
  /** No problem left (notices allowed). */
  clean: boolean;
  /** What is wrong now (after the repairs, when --repair was given). */
  findings: Finding[];
  /** Findings of the first pass that a repair made go away. */
  repaired: Finding[];
  stats: CheckStats;
}

export async function runFsck(checker: StoreChecker, options: FsckOptions = {}): Promise<FsckReport> {
  const checkOptions = { deep: options.deep ?? false, sampleLimit: options.sampleLimit ?? 10 };
  let result = await checkStore(checker, checkOptions);
  let repaired: Finding[] = [];
  if (options.repair) {
    const before = result.findings;
    // With mail lost, an unreferenced blob and its index may be the only copy of it: keep them
    // for the operator (docs/reliability.md) and repair only counters.
    const lostMail = before.some((finding) => finding.code === 'messageVanished');
    const repairs = uniqueRepairs(before).filter((repair) => !lostMail || repair.kind === 'mailboxCounters' || repair.kind === 'accountUsage');
    for (const repair of repairs) await checker.repair(repair);
    if (repairs.length > 0) {
      result = await checkStore(checker, checkOptions);
      const left = new Set(result.findings.map(findingKey));
      repaired = before.filter((finding) => finding.repair !== undefined && !left.has(findingKey(finding)));
    }
  }
  return {
    clean: !result.findings.some((finding) => finding.severity === 'problem'),
    findings: result.findings,
    repaired,
    stats: result.stats,
  };
}

function findingKey(finding: Finding): string {
  return `${finding.code}\u0000${finding.subject}`;
}

function repairKey(repair: FsckRepair): string {
  switch (repair.kind) {
    case 'mailboxCounters':
      return `${repair.kind}:${repair.mailboxId}`;
    case 'accountUsage':
      return `${repair.kind}:${repair.accountId}`;
    case 'trashBlob':
    case 'dropIndex':
    case 'untrash':
      return `${repair.kind}:${repair.hash}`;
  }
}

/** Mailbox counters first: the account repair then raises the account MODSEQ over them. */
function uniqueRepairs(findings: readonly Finding[]): FsckRepair[] {
  const byKey = new Map<string, FsckRepair>();
  for (const finding of findings) if (finding.repair) byKey.set(repairKey(finding.repair), finding.repair);
  const order = (repair: FsckRepair): number => (repair.kind === 'mailboxCounters' ? 0 : repair.kind === 'accountUsage' ? 1 : 2);
  return [...byKey.values()].sort((a, b) => order(a) - order(b));
}

/** The report for people: one line per finding, then a summary line. */
export function formatFsckReport(report: FsckReport): string {
  const lines: string[] = [];
  const lostMail = report.findings.some((finding) => finding.code === 'messageVanished');
  for (const finding of report.repaired) lines.push(`repaired  ${finding.code}  ${finding.subject}: ${finding.detail}`);
  for (const finding of report.findings) {
    const keptForLostMail = lostMail && finding.repair !== undefined && (finding.repair.kind === 'trashBlob' || finding.repair.kind === 'dropIndex');
    const fix =
      finding.severity !== 'problem' || finding.repair === undefined
        ? ''
        : keptForLostMail
          ? ' (kept by --repair while mail is lost: it may hold a lost message)'
          : ' (fsck --repair fixes this)';
    lines.push(`${finding.severity.padEnd(8)}  ${finding.code}  ${finding.subject}: ${finding.detail}${fix}`);
  }
  const { stats } = report;
  const problems = report.findings.filter((finding) => finding.severity === 'problem').length;
  lines.push(
    `${problems === 0 ? 'clean' : `${problems} ${problems === 1 ? 'problem' : 'problems'}`}: ` +
      `${stats.accounts} accounts, ${stats.mailboxes} mailboxes, ${stats.messages} messages, ` +
      `${stats.referencedBlobs} referenced blobs, ${stats.storedBlobs} stored blobs` +
      (report.repaired.length > 0 ? `, ${report.repaired.length} repaired` : ''),
  );
  return lines.map((line) => `${line}\n`).join('');
}
