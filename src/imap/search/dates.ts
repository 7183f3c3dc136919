/**
 * Calendar days for the date keys of RFC 3501 6.4.4. Every comparison is on whole days
 * ("disregarding time and timezone"), expressed as a day number (days since 1970-01-01 in
 * the proleptic Gregorian calendar), so BEFORE/ON/SINCE are integer comparisons.
 *
 * Which calendar day an instant falls on depends on a zone, and the RFC leaves it open:
 *
 * - BEFORE/ON/SINCE use INTERNALDATE. The store keeps only the instant (not the zone an
 *   APPEND wrote), so the day is taken in one zone for the whole server: the offset the
 *   session passes as `SearchContext.timeZoneOffsetMinutes` (0, UTC, by default). The
 *   intended setting is the server's own zone (Dovecot compares in server local time): a
 *   message delivered at 23:30 local time is then "ON" that local day for every client.
 *   `dayOfInstant` also accepts `'local'` (the process zone, right across DST changes) for
 *   when the contract can carry it.
 * - SENTBEFORE/SENTON/SENTSINCE use the Date header **as written**, in the sender's own zone:
 *   "Date: Tue, 1 Jul 2003 23:30:00 -0700" is SENTON 1-Jul-2003 although it is 2 July in UTC.
 *   That is what "disregarding time and timezone" says for a header whose text carries its
 *   date. When the day cannot be read from the text but the index parsed the header, the UTC
 *   day is used. A message without a parsable Date header matches no SENT* key (neither
 *   "before" nor "since" anything).
 * @module
 */
import type { SearchDate } from '../../wire/imap/commands.js';
import type { MessageIndex } from '../../mime/types.js';

const MS_PER_DAY = 86_400_000;
const MS_PER_MINUTE = 60_000;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** The zone in which INTERNALDATE is turned into a day: the server's, or minutes east of UTC. */
export type DayZone = 'local' | number;

/** Day number of a calendar date. */
export function dayNumber(year: number, month: number, day: number): number {
  return Math.floor(utcMidnight(year, month, day) / MS_PER_DAY);
}

/** Date.UTC, except that years 0-99 stay years 0-99 (Date.UTC would add 1900). */
function utcMidnight(year: number, month: number, day: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return date.getTime();
}

/** Day number of a SEARCH date argument (RFC 3501 9 `date`). */
export function searchDay(date: SearchDate): number {
  return dayNumber(date.year, date.month, date.day);
}

/** The day an instant falls on in `zone`. */
export function dayOfInstant(instant: Date, zone: DayZone): number {
  if (zone === 'local') return dayNumber(instant.getFullYear(), instant.getMonth() + 1, instant.getDate());
  return Math.floor((instant.getTime() + zone * MS_PER_MINUTE) / MS_PER_DAY);
}

/** RFC 5322 3.3 `day month year` (also with obsolete 2- or 3-digit years, RFC 5322 4.3). */
const RFC5322_DAY = /(?:^|[^0-9])(\d{1,2})\s*[- ]\s*([a-z]{3})[a-z]*\.?\s*[- ]\s*(\d{2,4})(?![0-9])/i;
/** asctime order: `Mon Jan  2 15:04:05 2006`. */
const ASCTIME_DAY = /\b([a-z]{3})[a-z]*\s+(\d{1,2})\s+\d{1,2}:\d{2}(?::\d{2})?\s+(\d{4})\b/i;
/** ISO 8601: `2003-07-01T23:30:00-07:00`. */
const ISO_DAY = /^\s*(\d{4})-(\d{1,2})-(\d{1,2})/;

/**
 * The day the Date header names, in its own zone; null when the message has no parsable
 * Date header (the index's `search.date` is null).
 */
export function sentDay(index: MessageIndex): number | null {
  const instant = index.search.date;
  if (instant === null) return null;
  const written = index.envelope.date === null ? null : writtenDay(index.envelope.date);
  return written ?? Math.floor(instant / MS_PER_DAY);
}

/** The calendar day as written in a Date header value, or null when none can be read. */
export function writtenDay(value: string): number | null {
  const text = value.replace(/\([^()]*\)/g, ' ');
  const iso = ISO_DAY.exec(text);
  if (iso) return validDay(Number(iso[1]), Number(iso[2]), Number(iso[3]));
  const rfc = RFC5322_DAY.exec(text);
  if (rfc) return validDay(expandYear(rfc[3]!), monthNumber(rfc[2]!), Number(rfc[1]));
  const asctime = ASCTIME_DAY.exec(text);
  if (asctime) return validDay(Number(asctime[3]), monthNumber(asctime[1]!), Number(asctime[2]));
  return null;
}

function monthNumber(name: string): number {
  return MONTHS.indexOf(name.toLowerCase()) + 1;
}

/** RFC 5322 4.3: 2-digit years 00-49 are 2000-2049, 50-99 are 1950-1999; 3 digits add 1900. */
function expandYear(text: string): number {
  const year = Number(text);
  if (text.length === 2) return year < 50 ? 2000 + year : 1900 + year;
  if (text.length === 3) return 1900 + year;
  return year;
}

function validDay(year: number, month: number, day: number): number | null {
  if (month < 1 || month > 12 || day < 1 || day > 31 || year < 1) return null;
  const utc = utcMidnight(year, month, day);
  // 31 Feb and friends are not a day.
  if (new Date(utc).getUTCDate() !== day) return null;
  return Math.floor(utc / MS_PER_DAY);
}
