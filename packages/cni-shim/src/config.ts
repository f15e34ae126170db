/**
 * weft's network config: the keys flannel's plugin and the bridge plugin use, with their defaults.
 *
 *   subnetFile        /run/flannel/subnet.env   where weftd publishes this node's lease
 *   dataDir           /var/lib/cni/networks     IPAM store root (host-local's layout: <dataDir>/<name>/)
 *   bridge            cni0
 *   mtu               FLANNEL_MTU               pod and bridge MTU
 *   hairpinMode       false                     a pod may reach itself through a service IP
 *   isDefaultGateway  true                      default route via the gateway; false: a route to
 *                                               FLANNEL_NETWORK only (as flannel's delegate does)
 *
 * Every key is checked for type and range with an error (code 7) naming it; an `ipam` section is
 * refused with code 2 because weft allocates from the node's lease itself. Unknown keys pass, as the
 * spec asks (runtimes and chained plugins add their own).
 */
import { CNI_ERR, CniError } from './cni-spec.js';
import { parseResult, type CniResult } from './result.js';
import { checkInterfaceName } from './skel.js';

export interface Attachment {
  containerId: string;
  ifName: string;
}

export interface WeftNetConf {
  name: string;
  subnetFile: string;
  dataDir: string;
  bridge: string;
  mtu: number | undefined;
  hairpinMode: boolean;
  isDefaultGateway: boolean;
  prevResult: CniResult | undefined;
  /** GC only: `cni.dev/valid-attachments` together with the older `cni.dev/attachments`. */
  validAttachments: Attachment[] | undefined;
}

export const DEFAULT_SUBNET_FILE = '/run/flannel/subnet.env';
export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

export function parseNetConf(conf: Record<string, unknown>): WeftNetConf {
  if (conf.ipam !== undefined) {
    throw new CniError(
      CNI_ERR.unsupportedField,
      `unsupported field "ipam": ${JSON.stringify(conf.ipam)}`,
      'weft allocates pod addresses from the node subnet in subnetFile; remove the ipam section',
    );
  }
  const bridge = optString(conf, 'bridge') ?? 'cni0';
  checkInterfaceName(bridge, 'network config "bridge"', CNI_ERR.invalidConfig);
  return {
    name: conf.name as string,
    subnetFile: optPath(conf, 'subnetFile') ?? DEFAULT_SUBNET_FILE,
    dataDir: optPath(conf, 'dataDir') ?? DEFAULT_DATA_DIR,
    bridge,
    mtu: optMtu(conf),
    hairpinMode: optBool(conf, 'hairpinMode') ?? false,
    isDefaultGateway: optBool(conf, 'isDefaultGateway') ?? true,
    prevResult: conf.prevResult === undefined || conf.prevResult === null ? undefined : parseResult(conf.prevResult),
    validAttachments: parseAttachments(conf),
  };
}

function optString(conf: Record<string, unknown>, key: string): string | undefined {
  const v = conf[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw invalid(key, v, 'a string');
  return v;
}

function optPath(conf: Record<string, unknown>, key: string): string | undefined {
  const v = optString(conf, key);
  if (v !== undefined && (!v.startsWith('/') || v.includes('\0'))) throw invalid(key, v, 'an absolute path');
  return v;
}

function optBool(conf: Record<string, unknown>, key: string): boolean | undefined {
  const v = conf[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw invalid(key, v, 'true or false');
  return v;
}

function optMtu(conf: Record<string, unknown>): number | undefined {
  const v = conf.mtu;
  if (v === undefined || v === null || v === 0) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 576 || v > 65535) throw invalid('mtu', v, 'an integer from 576 to 65535');
  return v;
}

function parseAttachments(conf: Record<string, unknown>): Attachment[] | undefined {
  const lists = ['cni.dev/valid-attachments', 'cni.dev/attachments'].filter((k) => conf[k] !== undefined && conf[k] !== null);
  if (lists.length === 0) return undefined;
  const out: Attachment[] = [];
  for (const key of lists) {
    const v = conf[key];
    if (!Array.isArray(v)) throw invalid(key, v, 'a list of {containerID, ifname}');
    v.forEach((item: unknown, i) => {
      const a = item as { containerID?: unknown; ifname?: unknown } | null;
      if (typeof a?.containerID !== 'string' || typeof a.ifname !== 'string')
        throw invalid(`${key}[${i}]`, item, '{"containerID": string, "ifname": string}');
      out.push({ containerId: a.containerID, ifName: a.ifname });
    });
  }
  return out;
}

function invalid(key: string, value: unknown, expected: string): CniError {
  return new CniError(CNI_ERR.invalidConfig, `network config "${key}" must be ${expected}, got ${JSON.stringify(value)}`);
}
