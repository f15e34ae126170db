/**
 * @weft/control: weftd and weftctl. The daemons start from bin/ (cli/weftd-main.ts, cli/weftctl-main.ts); this entry
 * point exports only what other packages use: net-conf.json's parser, for the manifests' ConfigMap check.
 */
export { parseNetConf, NetConfError, DEFAULT_VXLAN_PORT, DEFAULT_VXLAN_VNI, type ParsedNetConf } from './config/net-conf.js';
export type { NetworkConfig, LeaseAttrs, VxlanBackendData, Lease } from './subnet/types.js';
