/**
 * A small human-readable formatter for terminals: `HH:MM:SS.mmm LEVEL msg key=value…`.
 * It re-reads the JSON line pino produced (after redaction), so what the terminal shows is
 * exactly what a JSON log would hold, minus the pid.
 */
import { writeSync } from 'node:fs';
import type { DestinationStream } from 'pino';

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Keys shown in the fixed columns, or not worth a terminal column. */
const HIDDEN_KEYS = new Set(['time', 'level', 'msg', 'pid']);

/** Formats one pino JSON line; lines that are not JSON objects pass through unchanged. */
export function formatPrettyLine(jsonLine: string): string {
  let record: unknown;
  try {
    record = JSON.parse(jsonLine);
  } catch {
    return jsonLine.endsWith('\n') ? jsonLine : `${jsonLine}\n`;
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return `${jsonLine.trimEnd()}\n`;
  const fields = record as Record<string, unknown>;
  const head = [formatTime(fields.time), formatLevel(fields.level).padEnd(5), typeof fields.msg === 'string' ? fields.msg : ''];
  const pairs: string[] = [];
  let stack = '';
  for (const [key, value] of Object.entries(fields)) {
    if (HIDDEN_KEYS.has(key)) continue;
    if (key === 'err' && isErrorRecord(value)) {
      pairs.push(`err=${formatValue(value.message)}`);
      if (typeof value.stack === 'string') stack = `\n${indent(value.stack)}`;
      continue;
    }
    pairs.push(`${key}=${formatValue(value)}`);
  }
  return `${[...head, ...pairs].filter((part) => part !== '').join(' ')}${stack}\n`;
}

function formatTime(time: unknown): string {
  const date = typeof time === 'number' || typeof time === 'string' ? new Date(time) : new Date();
  const valid = Number.isNaN(date.getTime()) ? new Date() : date;
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(valid.getHours())}:${pad(valid.getMinutes())}:${pad(valid.getSeconds())}.${pad(valid.getMilliseconds(), 3)}`;
}

function formatLevel(level: unknown): string {
  if (typeof level === 'number') return LEVEL_NAMES[level] ?? String(level);
  if (typeof level === 'string') return level.toUpperCase();
  return 'INFO';
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

function isErrorRecord(value: unknown): value is { message: unknown; stack?: unknown } {
  return value !== null && typeof value === 'object' && 'message' in value;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

/** A synchronous destination that pretty-prints to a file descriptor (stdout by default). */
export class PrettyDestination implements DestinationStream {
  constructor(private readonly fd = 1) {}

  write(line: string): void {
    writeSync(this.fd, formatPrettyLine(line));
  }
}
