/**
 * @weft/cni-shim: the weft CNI plugin (`bin/weft`) and the pieces tests, benchmarks and weftd reuse:
 * the skeleton, result conversion, config and subnet-file parsing, and the host-local compatible IPAM
 * store. (Executing conflists as a runtime does is @weft/netlab's CniRuntime.)
 *
 * The package is CommonJS (start-up time, see README); its own tests import this compiled surface
 * (`../dist/index.js`), which also keeps the shared ESM test tsconfig away from CommonJS sources.
 */
export { ABOUT, CNI_ERR, CniError, asCniError } from './cni-spec.js';
export { SUPPORTED_VERSIONS, CURRENT_VERSION, compareVersions, versionAtLeast } from './cni-spec.js';
export {
  pluginMain,
  decodeInvocation,
  checkInterfaceName,
  type PluginIO,
  type PluginFuncs,
  type CmdArgs,
  type CniCommand,
} from './skel.js';
export {
  formatResult,
  parseResult,
  appendResult,
  type CniResult,
  type CniInterface,
  type CniIpConfig,
  type CniRoute,
  type CniDns,
} from './result.js';
export { parseNetConf, DEFAULT_DATA_DIR, DEFAULT_SUBNET_FILE, type WeftNetConf, type Attachment } from './config.js';
export { readSubnetFile, parseSubnetEnv, type NodeSubnet } from './subnet-file.js';
export { IpamStore, type Reservation, type AddressPool, type Owner } from './ipam-store.js';
export { hostVethName, macForAddress } from './bridge-veth.js';
export { parseIpv4, formatIpv4, parseIpv4Prefix, formatIpv4Prefix, type Ipv4Prefix } from './ipv4.js';
export { weftPlugin, addressPool } from './weft-plugin.js';
export { requestedAddress, checkRequestInSubnet, type AddressRequest } from './requested-address.js';
export { setLogSink } from './log.js';
