/**
 * `weftd --cleanup`: a stop leaves the node forwarding-ready (persistent VTEP with its routes and
 * neighbours, the state file) for the next weftd; a node leaving weft removes them with this. The
 * device name comes from the state file (weft.1 without one); deleting the device takes its routes
 * and neighbours with it. The lease in etcd is left to expire, as flannel does.
 */
import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { WeftdConfig } from '../cli/weftd-flags.js';
import { mustRunHostTool } from '../host/host-tool.js';
import { NodeStateFile, readNodeState } from './node-state.js';

export async function cleanupNode(c: WeftdConfig, log: Logger): Promise<number> {
  const file = NodeStateFile.inRunDir(c.runDir);
  const st = await readNodeState(file.path).catch(() => undefined);
  const dev = st?.state.vtep.name ?? 'weft.1';
  let status = 0;
  await mustRunHostTool('ip', ['link', 'del', 'dev', dev]).then(
    () => log.info({ dev }, 'VTEP device deleted'),
    (e: Error) => {
      if (!/Cannot find device/.test(e.message)) {
        log.error({ dev, err: e }, 'deleting the VTEP device failed');
        status = 1;
      }
    },
  );
  await rm(file.path, { force: true });
  log.info({ path: file.path }, 'state file removed');
  return status;
}
