/**
 * Date header → epoch milliseconds: RFC 5322 3.3 date-time plus the obsolete forms of
 * RFC 5322 4.3 (two- and three-digit years, alphabetic zones, comments, missing seconds) and
 * forms seen in the wild (asctime order, ISO 8601, "GMT+0100", missing zone = UTC); and the
 * other way, the date-time Mailhaven writes (trace fields, Date, DSN fields).
 * @module
 */

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** RFC 5322 4.3 obs-zone (minutes east of UTC); military letters count as UTC as 4.3 advises. */
const ZONES: Record<string, number> = {
  ut: 0, utc: 0, gmt: 0, z: 0, est: -300, edt: -240, cst: -360, cdt: -300, mst: -420, mdt: -360, pst: -480, pdt: -420,
  // Widely used non-RFC abbreviations that are unambiguous enough.
  cet: 60, cest: 120, met: 60, mest: 120, bst: 60, eet: 120, eest: 180, wet: 0, west: 60, jst: 540, kst: 540, hkt: 480,
  ist: 330, aest: 600, aedt: 660, nzst: 720, nzdt: 780,
};

/** Parses a Date header value; null when it is absent or not a date. */
export function parseDate(value: string | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  const text = value.replace(/\([^()]*\)/g, ' ').trim();
  if (text.length === 0) return null;
  return parseIso(text) ?? parseRfc(text);
}

function parseIso(text: string): number | null {
  const m = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?)?$/i.exec(text);
  if (!m) return null;
  const zone = m[7] === undefined ? 0 : parseNumericZone(m[7]);
  if (zone === null) return null;
  return build(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0), zone);
}

function parseRfc(text: string): number | null {
  const tokens = text
    .toLowerCase()
    .replace(/,/g, ' ')
    .split(/\s+/)
    .filter((t) => t.length > 0);
  let month: number | null = null;
  let time: [number, number, number] | null = null;
  let zone: number | null = null;
  const numbers: string[] = [];
  for (const token of tokens) {
    if (time === null && /^\d{1,2}:\d{1,2}(:\d{1,2})?(\.\d+)?$/.test(token)) {
      const [h, mi, s] = token.split(/[:.]/).map(Number);
      time = [h ?? 0, mi ?? 0, s ?? 0];
      continue;
    }
    if (/^\d+$/.test(token)) {
      numbers.push(token);
      continue;
    }
    if (/^[+-]\d{4}$/.test(token) || /^[+-]\d{2}:\d{2}$/.test(token)) {
      zone ??= parseNumericZone(token);
      continue;
    }
    const glued = /^(gmt|ut|utc)([+-]\d{1,2}(?::?\d{2})?)$/.exec(token);
    if (glued) {
      zone ??= parseNumericZone(glued[2]!.length <= 3 ? `${glued[2]}00` : glued[2]!);
      continue;
    }
    const dayMonthYear = /^(\d{1,2})-([a-z]{3})-(\d{2,4})$/.exec(token);
    if (dayMonthYear) {
      numbers.push(dayMonthYear[1]!, dayMonthYear[3]!);
      month ??= MONTHS.indexOf(dayMonthYear[2]!);
      continue;
    }
    const name = token.replace(/\.$/, '');
    if (month === null && name.length >= 3 && MONTHS.includes(name.slice(0, 3)) && /^[a-z]+$/.test(name)) {
      month = MONTHS.indexOf(name.slice(0, 3));
      continue;
    }
    if (zone === null && name in ZONES) zone = ZONES[name]!;
    else if (zone === null && /^[a-ik-z]$/.test(name)) zone = 0;
  }
  if (month === null || month < 0 || time === null || numbers.length < 2) return null;
  // RFC 5322 order is day month year; asctime (ctime) order is month day time year.
  const [a, b] = numbers as [string, string];
  let day: number;
  let yearText: string;
  if (a.length <= 2 && Number(a) >= 1 && Number(a) <= 31) {
    day = Number(a);
    yearText = b;
  } else {
    day = Number(b);
    yearText = a;
  }
  return build(expandYear(yearText), month, day, time[0], time[1], time[2], zone ?? 0);
}

/** RFC 5322 4.3: two-digit years 00-49 are 2000-2049, 50-99 are 1950-1999; three digits add 1900. */
function expandYear(text: string): number {
  const year = Number(text);
  if (text.length === 2) return year < 50 ? 2000 + year : 1900 + year;
  if (text.length === 3) return 1900 + year;
  return year;
}

function parseNumericZone(token: string): number | null {
  if (token.toLowerCase() === 'z') return 0;
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(token);
  if (!m) return null;
  const minutes = Number(m[2]) * 60 + Number(m[3]);
  if (Number(m[3]) > 59 || minutes > 18 * 60) return null;
  return m[1] === '-' ? -minutes : minutes;
}

function build(year: number, month: number, day: number, hour: number, minute: number, second: number, zoneMinutes: number): number | null {
  if (year < 1 || year > 9999 || month < 0 || month > 11 || day < 1 || day > 31) return null;
  if (hour > 23 || minute > 59 || second > 60) return null;
  const utc = Date.UTC(year, month, day, hour, minute, Math.min(second, 59));
  // Reject day overflow such as 31 Feb.
  if (new Date(utc).getUTCDate() !== day) return null;
  return utc - zoneMinutes * 60_000;
}

const WEEKDAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTH_NAMES = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 5322 3.3 date-time in UTC with a numeric zone: "Tue, 26 Nov 2024 05:38:00 +0000". */
export function rfc5322Date(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return (
    `${WEEKDAY_NAMES[date.getUTCDay()]}, ${date.getUTCDate()} ${MONTH_NAMES[date.getUTCMonth()]} ${date.getUTCFullYear()} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  );
}
