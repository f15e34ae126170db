/**
 * The parts of networking.k8s.io/v1 NetworkPolicy, v1 Pod and v1 Namespace that policy needs, as
 * structural types: @kubernetes/client-node's V1* objects fit them, and unit tests write plain literals.
 * Everything here comes from the API server and is untrusted: the compiler validates each field it uses.
 */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

export interface PolicyPort {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}

export interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

export interface NetworkPolicy {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: {
    podSelector?: LabelSelector;
    policyTypes?: string[];
    ingress?: Array<{ from?: PolicyPeer[]; ports?: PolicyPort[] }>;
    egress?: Array<{ to?: PolicyPeer[]; ports?: PolicyPort[] }>;
  };
}

export interface Pod {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string };
  spec?: {
    nodeName?: string;
    hostNetwork?: boolean;
    containers?: Array<{ ports?: Array<{ name?: string; containerPort?: number; protocol?: string }> }>;
  };
  status?: { podIP?: string; phase?: string };
}

export interface Namespace {
  metadata?: { name?: string; labels?: Record<string, string>; resourceVersion?: string };
}

/** What the compiler is given: the cluster (from the informers) and this node. */
export interface PolicyInput {
  policies: readonly NetworkPolicy[];
  pods: readonly Pod[];
  namespaces: readonly Namespace[];
  /** Is this pod IP one of this node's pods (its subnet)? Only those get verdict chains. */
  isLocal: (ip: string) => boolean;
  /** The node's own IPv4 addresses (eth0, cni0 gateway, VTEP): their traffic to pods is always allowed. */
  nodeAddrs: readonly string[];
}

export type Direction = 'ingress' | 'egress';
export const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
