/** The command line itself is wrong (exit status 2), detected after commander's own checks. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
