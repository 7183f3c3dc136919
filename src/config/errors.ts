/**
 * The one error type configuration loading throws. Its message is meant for the operator:
 * `<file>: <key>: <reason>`, one line per problem, so startup output points at the fix.
 */

export interface ConfigIssue {
  /** Dotted key path as written in TOML (`limits.message_size`, `listen.smtp[0]`), or '' for the file itself. */
  key: string;
  reason: string;
  /** 1-based position in the file, for syntax errors. */
  line?: number;
  column?: number;
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';

  constructor(
    /** Absolute path of the file, or null when the problem is not tied to a file. */
    readonly file: string | null,
    readonly issues: readonly ConfigIssue[],
  ) {
    super(issues.map((issue) => formatIssue(file, issue)).join('\n'));
    this.name = 'ConfigError';
  }

  /** The first problem's key, for callers that only show one. */
  get key(): string {
    return this.issues[0]?.key ?? '';
  }

  get reason(): string {
    return this.issues[0]?.reason ?? '';
  }
}

function formatIssue(file: string | null, issue: ConfigIssue): string {
  const where = issue.line === undefined ? (file ?? 'configuration') : `${file ?? 'configuration'}:${issue.line}:${issue.column ?? 1}`;
  const parts = [where, issue.key, issue.reason].filter((part) => part !== '');
  return parts.join(': ');
}
