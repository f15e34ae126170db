export { Lab, LabProcess, type LabRecord } from './lab.js';
export { startEtcd, freePort, type EtcdHandle } from './etcd.js';
export { processStartTime, signalIfSame } from './process-identity.js';
export { run, ipBatch, CommandError, type RunResult } from './run.js';
export { buildPair, addEndpoint, connect, TCP_HASH, type OverlayEndpoint, type PairNode, type EndpointSpec } from './overlay-pair.js';
export { CniRuntime, CniPluginError, type CniConflist, type CniAttachment } from './cni-runtime.js';
export * from './weft-cluster.js';
export { measureOutage, parsePing, longestGapMs, type OutageResult, type OutageProbeOptions } from './outage-probe.js';
export { UpgradeLab, FORWARDING_RE, UP_RE, type UpgradeEvent } from './upgrade-lab.js';
