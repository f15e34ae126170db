export {
  compile,
  policyTypes,
  livePods,
  PolicyWorld,
  TABLE,
  type CompiledRuleset,
  type DropCounter,
  type PolicyTableStats,
} from './policy-compiler.js';
export { selects } from './label-selector.js';
export { NftApplier, type RulesetSink } from './nft-applier.js';
export { KubePolicySource, type PolicySource, type ClusterSnapshot } from './kube-policy-source.js';
export {
  PolicyController,
  type PolicyLogger,
  type PolicyNode,
  type AppliedInfo,
  type PolicyStats,
  type PolicyDrop,
} from './policy-controller.js';
export { explainPod, type PodPolicyReport } from './policy-explain.js';
export type * from './policy-types.js';
