/**
 * The plugin's log: one JSON line per event on stderr, in pino's shape ({level, time, pid, name, msg,
 * ...fields}) so the same tools read weftd's and the plugin's logs, without loading pino (start-up
 * time). Runtimes keep a plugin's stderr in their own log. WEFT_CNI_LOG=debug|info|warn|error|silent
 * sets the threshold (default info: one line per ADD, DEL or GC, plus anything unusual).
 */
import { writeSync } from 'node:fs';

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50, silent: 100 } as const;
type Level = Exclude<keyof typeof LEVELS, 'silent'>;

let threshold: number = LEVELS[(process.env.WEFT_CNI_LOG ?? 'info') as keyof typeof LEVELS] ?? LEVELS.info;
let sink = (line: string): void => {
  try {
    writeSync(2, line);
  } catch {
    // a closed stderr must not fail the operation
  }
};

function emit(level: Level, msg: string, fields: Record<string, unknown>): void {
  if (LEVELS[level] < threshold) return;
  sink(JSON.stringify({ level: LEVELS[level], time: Date.now(), pid: process.pid, name: 'weft-cni', msg, ...fields }) + '\n');
}

export const log = {
  debug: (msg: string, fields: Record<string, unknown> = {}) => emit('debug', msg, fields),
  info: (msg: string, fields: Record<string, unknown> = {}) => emit('info', msg, fields),
  warn: (msg: string, fields: Record<string, unknown> = {}) => emit('warn', msg, fields),
  error: (msg: string, fields: Record<string, unknown> = {}) => emit('error', msg, fields),
};

/** Redirects the log (tests, or a host process embedding the plugin); returns the previous sink. */
export function setLogSink(next: (line: string) => void, level: keyof typeof LEVELS = 'info'): (line: string) => void {
  const prev = sink;
  sink = next;
  threshold = LEVELS[level];
  return prev;
}
