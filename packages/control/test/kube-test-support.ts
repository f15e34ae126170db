/**
 * Shared by the Kubernetes-mode unit tests: flannel's node annotations as a node would publish them, and a
 * net-conf.json file per test file (created before, removed after), plus an ordered cleanup list.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';

export const ANNOTATION_PREFIX = 'flannel.alpha.coreos.com/';

/** The annotations of a node that published its VTEP; `data` replaces the backend-data JSON as given. */
export function published(ip: string, mac: string, o: { type?: string; data?: string } = {}): Record<string, string> {
  const P = ANNOTATION_PREFIX;
  return {
    [`${P}kube-subnet-manager`]: 'true',
    [`${P}backend-type`]: o.type ?? 'vxlan',
    [`${P}backend-data`]: o.data ?? JSON.stringify({ VNI: 1, VtepMAC: mac }),
    [`${P}public-ip`]: ip,
  };
}

/** A net-conf.json for this test file (Network 10.244.0.0/16, vxlan) in a temp dir; valid inside tests. */
export function netConfFixture(): { path(): string; dir(): string } {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'weft-kube-'));
    writeFileSync(join(dir, 'net-conf.json'), '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return { path: () => join(dir, 'net-conf.json'), dir: () => dir };
}

/** Cleanups registered by a test run after it, last first. */
export function cleanupList(): Array<() => Promise<void> | void> {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
  });
  return cleanups;
}
