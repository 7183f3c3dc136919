/**
 * The sendmail command line as cron, mail(1), PHP's mail() and most applications use it
 * (Sendmail's and Postfix's sendmail(1)): recipients as arguments, `-t` to take them from the
 * header, `-f` for the envelope sender, `-i`/`-oi` so that a lone "." does not end the message.
 * Options that only tune Sendmail's own behaviour are accepted and ignored; other modes
 * (`-bs`, `-bp`, `-q`...) are refused.
 * @module
 */

export interface SendmailArguments {
  /** Recipients given as arguments. */
  recipients: string[];
  /** -t: also take recipients from To, Cc and Bcc, and remove Bcc. */
  readRecipientsFromHeader: boolean;
  /** -f / -r: the envelope sender (reverse-path); null: the local user at the host name. */
  sender: string | null;
  /** -F: the full name for a From field we add. */
  fullName: string | null;
  /** Without -i / -oi a line with a single "." ends the message (classic sendmail). */
  dotEndsMessage: boolean;
}

export class SendmailUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SendmailUsageError';
  }
}

/** Options with a value, as one argument ("-fme@x") or two ("-f me@x"). */
const WITH_VALUE = new Set(['f', 'r', 'F', 'B', 'N', 'R', 'V', 'X', 'L', 'O', 'C', 'h', 'p']);

/** Options accepted without effect: delivery mode, error mode, verbosity, MIME body type... */
const IGNORED_WITH_VALUE = new Set(['B', 'N', 'R', 'V', 'X', 'L', 'O', 'C', 'h', 'p']);

export function parseSendmailArguments(argv: readonly string[]): SendmailArguments {
  const result: SendmailArguments = { recipients: [], readRecipientsFromHeader: false, sender: null, fullName: null, dotEndsMessage: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      result.recipients.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      result.recipients.push(arg);
      continue;
    }
    const letter = arg[1] ?? '';
    if (WITH_VALUE.has(letter)) {
      let value = arg.slice(2);
      if (value === '') {
        const next = argv[i + 1];
        if (next === undefined) throw new SendmailUsageError(`option -${letter} needs a value`);
        value = next;
        i++;
      }
      applyValue(result, letter, value);
      continue;
    }
    applyFlag(result, arg);
  }
  return result;
}

function applyValue(result: SendmailArguments, letter: string, value: string): void {
  switch (letter) {
    case 'f':
    case 'r':
      // "-f <>" or "-f ''" asks for the null reverse-path (bounces, RFC 5321 4.5.5).
      result.sender = value === '<>' ? '' : value.replace(/^<(.*)>$/, '$1');
      return;
    case 'F':
      result.fullName = value;
      return;
    default:
      if (!IGNORED_WITH_VALUE.has(letter)) throw new SendmailUsageError(`unknown option -${letter}`);
  }
}

function applyFlag(result: SendmailArguments, arg: string): void {
  if (arg === '-t') result.readRecipientsFromHeader = true;
  else if (arg === '-i' || arg === '-oi') result.dotEndsMessage = false;
  else if (arg === '-bm' || arg === '-U' || arg === '-v' || arg === '-m' || arg === '-n') return;
  else if (arg.startsWith('-o')) return; // -odb, -odi, -oem, -oee, -om...: Sendmail tuning
  else if (arg.startsWith('-q')) throw new SendmailUsageError('-q (queue runs) is not supported: the server runs its queue itself');
  else if (arg.startsWith('-b')) throw new SendmailUsageError(`mode ${arg} is not supported (only -bm, deliver a message)`);
  else throw new SendmailUsageError(`unknown option ${arg}`);
}
