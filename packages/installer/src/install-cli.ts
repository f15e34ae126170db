/**
 * `weft-install-cni`: what the DaemonSet's init containers run.
 *
 *   weft-install-cni plugin   [--plugin F] [--cni-bin-dir D]
 *   weft-install-cni conflist [--source F] [--cni-conf-dir D] [--file-name N] [--cni-bin-dir D]
 *
 * Defaults are the paths of the image and of the manifests in deploy/ (host paths mounted under /host).
 * Logs one pino JSON line per outcome; any failure is one error line naming the path and the cause, exit 1.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { installConflist } from './install-conflist.js';
import { installPlugin } from './install-plugin.js';

export const DEFAULTS = {
  plugin: '/opt/weft/cni/weft.gz',
  cniBinDir: '/host/opt/cni/bin',
  source: '/etc/kube-weft/cni-conf.json',
  cniConfDir: '/host/etc/cni/net.d',
  fileName: '10-weft.conflist',
} as const;

const USAGE = `usage:
  weft-install-cni plugin   [--plugin ${DEFAULTS.plugin}] [--cni-bin-dir ${DEFAULTS.cniBinDir}]
      copies the plugin executable (gzip-compressed or not) and its C libraries into <cni-bin-dir>/weft.d/<id>/ and writes the
      <cni-bin-dir>/weft launcher; atomic (temp + rename) and idempotent.
  weft-install-cni conflist [--source ${DEFAULTS.source}] [--cni-conf-dir ${DEFAULTS.cniConfDir}]
                            [--file-name ${DEFAULTS.fileName}] [--cni-bin-dir DIR]
      checks the conflist and writes it to <cni-conf-dir>/<file-name>; atomic and idempotent. With --cni-bin-dir,
      warns about plugins of the chain that are missing there.
`;

const log = pino({ name: 'weft-install-cni' });

export async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      plugin: { type: 'string', default: DEFAULTS.plugin },
      'cni-bin-dir': { type: 'string' },
      source: { type: 'string', default: DEFAULTS.source },
      'cni-conf-dir': { type: 'string', default: DEFAULTS.cniConfDir },
      'file-name': { type: 'string', default: DEFAULTS.fileName },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...extra] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  if (extra.length > 0) throw new Error(`unexpected arguments: ${extra.join(' ')}`);
  if (command === 'plugin') {
    const result = await installPlugin({ plugin: values.plugin, cniBinDir: values['cni-bin-dir'] ?? DEFAULTS.cniBinDir });
    log.info(result, result.launcherWritten ? 'installed the weft CNI plugin' : 'the weft CNI plugin was already installed');
    return 0;
  }
  if (command === 'conflist') {
    const binDir = values['cni-bin-dir'];
    const result = await installConflist({
      source: values.source,
      confDir: values['cni-conf-dir'],
      fileName: values['file-name'],
      ...(binDir === undefined ? {} : { cniBinDir: binDir }),
    });
    log.info(result, result.written ? 'installed the CNI network configuration' : 'the CNI network configuration was already installed');
    if (result.missingPlugins.length > 0) {
      log.warn(
        { missing: result.missingPlugins, cniBinDir: binDir },
        'plugins of the chain are missing: install the CNI reference plugins on the node',
      );
    }
    if (result.shadowedBy.length > 0) {
      log.warn({ shadowedBy: result.shadowedBy }, 'other CNI configs sort before ours and the runtime uses the first one: remove them');
    }
    return 0;
  }
  throw new Error(`unknown command ${JSON.stringify(command)}: expected plugin or conflist`);
}

export function run(argv: readonly string[]): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      log.error((error as Error).message);
      process.exitCode = 1;
    },
  );
}
