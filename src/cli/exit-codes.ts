/**
 * Exit statuses of the mailhaven command. 0, 1 and 2 follow the usual Unix split between
 * success, a failed operation and a misused command; 78 is sysexits.h EX_CONFIG, so service
 * managers and scripts can tell "fix the configuration" from "the operation failed".
 */
export const ExitCode = {
  ok: 0,
  /** The operation failed: unknown domain, existing user, weak password, I/O error... */
  failure: 1,
  /** The command line is wrong: unknown command or option, missing or malformed argument. */
  usage: 2,
  /** sysexits.h EX_CONFIG: the configuration file is missing, unreadable or invalid. */
  config: 78,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
