/**
 * What the demo needs before it touches anything: root, the host tools, weft built. Each missing
 * piece is named with the command that fixes it.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';
import { CONFLIST_PATH, REFERENCE_CNI_DIR, REPO_ROOT, WEFTD_BIN } from '@weft/netlab';

const TOOLS: Array<[string, string]> = [
  ['ip', 'iproute2'],
  ['etcd', 'etcd-server'],
  ['etcdctl', 'etcd-client'],
  ['iperf3', 'iperf3'],
  ['ping', 'iputils-ping'],
  ['ethtool', 'ethtool'],
  ['bridge', 'iproute2'],
];

function onPath(tool: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

/** Returns the problems found (empty: good to go). */
export function preflight(): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('not root: the demo creates network namespaces (run it as root, e.g. `sudo pnpm demo`)');
  const missing = TOOLS.filter(([t]) => !onPath(t));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map(([, p]) => p))].join(' ');
    problems.push(`missing tools ${missing.map(([t]) => t).join(', ')}: run \`bash scripts/setup.sh\` (or apt-get install ${pkgs})`);
  }
  if (!existsSync(join(REFERENCE_CNI_DIR, 'portmap'))) {
    problems.push(`no ${REFERENCE_CNI_DIR}/portmap: apt-get install containernetworking-plugins (the conflist chains portmap after weft)`);
  }
  const built = [join(REPO_ROOT, 'packages/control/dist/cli/weftd-main.js'), join(REPO_ROOT, 'packages/cni-shim/dist/main.js')];
  if (!existsSync(WEFTD_BIN) || built.some((f) => !existsSync(f))) problems.push('weft is not built: run `pnpm build`');
  if (!existsSync(CONFLIST_PATH)) problems.push(`no conflist at ${CONFLIST_PATH}`);
  return problems;
}
