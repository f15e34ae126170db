/**
 * The demo's voice: one line per step with what it is doing and how long it took, and on failure
 * which step failed and why, never a bare stack trace. Colours only on a terminal.
 */

const tty = process.stdout.isTTY === true;
const paint = (code: string, s: string): string => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
export const green = (s: string): string => paint('32', s);
export const red = (s: string): string => paint('31', s);
export const dim = (s: string): string => paint('2', s);
export const bold = (s: string): string => paint('1', s);

export class StepError extends Error {
  constructor(
    readonly step: string,
    override readonly cause: unknown,
  ) {
    super(`${step}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'StepError';
  }
}

export class Progress {
  private readonly t0 = Date.now();

  /** Runs one step, printing its name, outcome and duration. A failure becomes a StepError. */
  async step<T>(name: string, fn: () => Promise<T>, detail?: (r: T) => string): Promise<T> {
    const start = Date.now();
    // On a terminal the step's line is rewritten in place; in a log, it gets a start and an end line.
    process.stdout.write(`${dim(this.clock())} ${tty ? ' ' : '→'} ${name} ...${tty ? '' : '\n'}`);
    const lead = tty ? '\r\x1b[2K' : '';
    try {
      const r = await fn();
      const extra = detail ? ` ${dim(detail(r))}` : '';
      process.stdout.write(`${lead}${dim(this.clock())} ${green('✓')} ${name}${extra} ${dim(`(${ms(Date.now() - start)})`)}\n`);
      return r;
    } catch (e) {
      process.stdout.write(`${lead}${dim(this.clock())} ${red('✗')} ${name} ${dim(`(${ms(Date.now() - start)})`)}\n`);
      throw e instanceof StepError ? e : new StepError(name, e);
    }
  }

  info(line: string): void {
    process.stdout.write(`${line}\n`);
  }

  private clock(): string {
    return `[${((Date.now() - this.t0) / 1000).toFixed(1).padStart(5)}s]`;
  }
}

function ms(n: number): string {
  return n < 1000 ? `${n} ms` : `${(n / 1000).toFixed(1)} s`;
}
