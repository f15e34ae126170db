/**
 * Is pid N still the process we started? A pid alone is not an identity: once a recorded process has exited,
 * the kernel may give its pid to an unrelated process, and a sweep that kills by pid would kill that one. The
 * process's start time (field 22 of /proc/<pid>/stat, clock ticks since boot) is fixed at fork and unchanged by
 * exec, so pid + start time names one process for the life of the boot. Labs record both at spawn; sweeps
 * signal only a pid whose start time still matches.
 */
import { readFileSync } from 'node:fs';

/** The start time of `pid` (/proc/<pid>/stat field 22), or undefined when there is no such process. */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19]; // field 22 overall: 3 (state) is fields[0]
}

/** Sends `signal` to `pid` only if it is the process that started at `startTime`. True when it was signalled. */
export function signalIfSame(pid: number, startTime: string | undefined, signal: NodeJS.Signals): boolean {
  if (startTime === undefined || processStartTime(pid) !== startTime) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}
