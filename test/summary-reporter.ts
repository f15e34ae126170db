/**
 * Prints one plain closing line, `tests: N passed, N failed, N skipped`, after vitest's own report, so CI
 * logs and scripts can read the outcome without parsing vitest's table. When the netns project was
 * skipped for lack of root, it says so again here, next to the counts.
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  constructor(private readonly opts: { netnsSkipped: boolean }) {}

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const s = t.result().state;
        if (s === 'passed') passed++;
        else if (s === 'failed') failed++;
        else skipped++;
      }
      if (m.state() === 'failed' && m.children.size === 0) failed++;
    }
    if (this.opts.netnsSkipped) console.log('\nNOTE: netns and image projects skipped (not root).');
    console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  }
}
