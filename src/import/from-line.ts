/**
 * The mbox From_ separator line: "From " sender [SP date], the date usually in asctime(3)
 * form ("Sun Jan 23 20:41:55 2022"), sometimes with a zone ("... 1998 +0100" or "... EST 1998").
 */

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** [weekday[,]] month day hh:mm[:ss] [zone] year [zone] */
const ASCTIME =
  /^(?:[A-Za-z]{3},?\s+)?([A-Za-z]{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s+(?:([A-Za-z]{1,5}|[+-]\d{4})\s+)?(\d{4})(?:\s+([+-]\d{4}))?(?:\s|$)/;
/** [weekday,] day month year hh:mm[:ss] [zone]: RFC 5322 dates written by some tools. */
const RFC5322_DATE = /^(?:[A-Za-z]{3},?\s+)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s+([+-]\d{4}|[A-Za-z]{1,5}))?(?:\s|$)/;

export interface FromLine {
  sender: string;
  /** The date written after the sender, or null when absent or unreadable. */
  date: Date | null;
}

/** Splits a From_ line (without its line ending); null when the text does not start with "From ". */
export function parseFromLine(line: string): FromLine | null {
  const match = /^From (\S*)(?:\s+(.*))?$/.exec(line);
  if (!match) return null;
  const rest = (match[2] ?? '').trim();
  return { sender: match[1] ?? '', date: rest === '' ? null : parseFromLineDate(rest) };
}

/**
 * True when a line starting with "From " separates messages. A line with a readable date
 * always does (as mutt decides), and so does Netscape/Thunderbird's dateless "From -" (written
 * without an empty line before it in mboxcl files). "From user@host" without a date only counts
 * right after an empty line, and anything else ("From Russia with love", unquoted body text in
 * an mboxo file) stays in its message.
 */
export function isSeparatorLine(line: string, afterEmptyLine: boolean): boolean {
  const parsed = parseFromLine(line);
  if (parsed === null) return false;
  if (parsed.date !== null) return true;
  if (line.slice(5 + parsed.sender.length).trim() !== '') return false;
  return parsed.sender === '-' || (afterEmptyLine && parsed.sender.includes('@'));
}

export function parseFromLineDate(text: string): Date | null {
  const asctime = ASCTIME.exec(text);
  if (asctime) {
    const [, month = '', day = '', hour = '', minute = '', second = '0', zoneBefore, year = '', zoneAfter] = asctime;
    return buildDate(Number(year), month, Number(day), Number(hour), Number(minute), Number(second), zoneAfter ?? zoneBefore);
  }
  const rfc = RFC5322_DATE.exec(text);
  if (rfc) {
    const [, day = '', month = '', year = '', hour = '', minute = '', second = '0', zone] = rfc;
    return buildDate(Number(year), month, Number(day), Number(hour), Number(minute), Number(second), zone);
  }
  return null;
}

/** Dates without a numeric zone are taken as UTC: the writer's local zone is unknown. */
function buildDate(year: number, monthName: string, day: number, hour: number, minute: number, second: number, zone: string | undefined): Date | null {
  const month = MONTHS.indexOf(monthName.toLowerCase());
  if (month === -1 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null;
  const utc = Date.UTC(year, month, day, hour, minute, Math.min(second, 59));
  if (new Date(utc).getUTCDate() !== day) return null; // Feb 30 and the like
  return new Date(utc - zoneOffsetMinutes(zone) * 60_000);
}

function zoneOffsetMinutes(zone: string | undefined): number {
  if (zone === undefined) return 0;
  const numeric = /^([+-])(\d{2})(\d{2})$/.exec(zone);
  if (!numeric) return 0;
  const [, sign, hours = '0', minutes = '0'] = numeric;
  return (sign === '-' ? -1 : 1) * (Number(hours) * 60 + Number(minutes));
}
