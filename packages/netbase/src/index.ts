/**
 * @weft/netbase: the network vocabulary every weft package shares, with no dependencies beyond node: builtins so the
 * CNI plugin (CommonJS, one bundled executable started per pod) can carry it and weftd need not load the datapath's
 * native bindings to parse an address.
 */
export * from './ipv4';
export * from './ipv4-cidr';
export * from './mac';
export * from './subnet-env';
export * from './atomic-file';
export * from './ip-batch';
export * from './tool-run';
