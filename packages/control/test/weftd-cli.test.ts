/** bin/weftd as a process: --help, --version and configuration errors (exit 2, one line naming the flag). */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/weftd', import.meta.url));

function weftd(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 15_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('weftd command line', () => {
  it('--help explains the flags and exits 0', async () => {
    const r = await weftd(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--etcd-endpoints');
    expect(r.stdout).toContain('FLANNELD_SUBNET_FILE');
  });

  it('--version prints the package version', async () => {
    expect((await weftd(['--version'])).stdout).toMatch(/^weftd \d+\.\d+\.\d+\n$/);
  });

  it('a bad flag or variable exits 2 with one line naming it', async () => {
    const r = await weftd(['--healthz-port=http']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('weftd: --healthz-port: "http" is not a whole number\n');
    const e = await weftd([], { FLANNELD_IP_MASQ: 'yes' });
    expect(e.code).toBe(2);
    expect(e.stderr).toContain('FLANNELD_IP_MASQ (--ip-masq): "yes" is not true or false');
  });

  it('--kube-subnet-mgr without a node name exits 2 naming --node-name', async () => {
    const r = await weftd(['--kube-subnet-mgr']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--node-name');
  });
});
