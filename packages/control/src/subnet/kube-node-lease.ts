/**
 * A Kubernetes node as a lease, in flannel's annotation scheme (pkg/subnet/kube/annotations.go), so
 * weft and flannel nodes read each other:
 *   <prefix>kube-subnet-manager: "true"      the node's lease is published (flannel ignores nodes without it)
 *   <prefix>backend-type: "vxlan"
 *   <prefix>backend-data: '{"VNI":1,"VtepMAC":"…"}'   (JSON text)
 *   <prefix>public-ip: "192.168.64.3"
 * The subnet is the node's podCIDR (spec.podCIDRs' IPv4 entry, else spec.podCIDR), assigned by the
 * controller-manager; weft never allocates in this mode. The prefix follows flannel's rules: default
 * "flannel.alpha.coreos.com", at most one "/", "/" appended when missing, "-" when it ends otherwise.
 */
import type { V1Node } from '@kubernetes/client-node';
import type { Lease, LeaseAttrs } from './types.js';
import { containsCidr, formatIpv4Cidr, parseIpv4Cidr, type Ipv4Cidr } from '@weft/netbase';
import { decodeLeaseAttrs, encodeLeaseAttrs } from './lease-codec.js';
import { MAX_LEASE_VALUE_BYTES } from './subnet-registry.js';

export const DEFAULT_ANNOTATION_PREFIX = 'flannel.alpha.coreos.com';

export interface LeaseAnnotations {
  kubeSubnetManager: string;
  backendType: string;
  backendData: string;
  publicIp: string;
}

/** Annotation names for a prefix, validated as flannel validates --kube-annotation-prefix. */
export function leaseAnnotations(prefixArg: string = DEFAULT_ANNOTATION_PREFIX): LeaseAnnotations {
  let prefix = prefixArg;
  const slashes = prefix.split('/').length - 1;
  if (slashes > 1) throw new Error(`annotation prefix ${JSON.stringify(prefixArg)}: at most one "/" is allowed`);
  if (slashes === 0) prefix += '/';
  if (!prefix.endsWith('/') && !prefix.endsWith('-')) prefix += '-';
  if (!/^(?:[a-z0-9_-]+\.)+[a-z0-9_-]+\/(?:[a-z0-9_-]+-)?$/.test(prefix)) {
    throw new Error(`annotation prefix ${JSON.stringify(prefixArg)}: must look like fqdn/[0-9a-z-_]* (e.g. flannel.alpha.coreos.com)`);
  }
  return {
    kubeSubnetManager: `${prefix}kube-subnet-manager`,
    backendType: `${prefix}backend-type`,
    backendData: `${prefix}backend-data`,
    publicIp: `${prefix}public-ip`,
  };
}

/** A published lease larger than MAX_LEASE_VALUE_BYTES: rejected unparsed (reason `oversize`). */
export class LeaseTooBigError extends Error {
  override name = 'LeaseTooBigError';
}

/** The annotation values that publish `attrs` (what AcquireLease patches onto our node). */
export function annotationsForLease(names: LeaseAnnotations, attrs: LeaseAttrs): Record<string, string> {
  return {
    [names.kubeSubnetManager]: 'true',
    [names.backendType]: attrs.BackendType,
    [names.backendData]: JSON.stringify(attrs.BackendData ?? null),
    [names.publicIp]: attrs.PublicIP,
  };
}

/** The node's IPv4 pod subnet, or an Error saying what is missing or wrong. */
export function nodePodCidr(node: V1Node): Ipv4Cidr {
  const name = node.metadata?.name ?? '?';
  const cidrs = node.spec?.podCIDRs?.length ? node.spec.podCIDRs : node.spec?.podCIDR ? [node.spec.podCIDR] : [];
  if (cidrs.length === 0)
    throw new Error(`node ${name} has no podCIDR assigned (is kube-controller-manager running with --allocate-node-cidrs?)`);
  const v4 = cidrs.find((c) => !c.includes(':'));
  if (v4 === undefined) throw new Error(`node ${name} has no IPv4 podCIDR (${cidrs.join(', ')}); weft is IPv4-only`);
  try {
    return parseIpv4Cidr(v4);
  } catch (e) {
    throw new Error(`node ${name} podCIDR: ${(e as Error).message}`);
  }
}

/** Our podCIDR, checked against the network: an Error naming both when it lies outside. */
export function ownPodCidr(node: V1Node, network: string): Ipv4Cidr {
  const cidr = nodePodCidr(node);
  if (!containsCidr(parseIpv4Cidr(network), cidr)) {
    throw new Error(
      `node ${node.metadata?.name} podCIDR ${formatIpv4Cidr(cidr)} is not inside the network ${network} of net-conf.json (cluster-cidr ` +
        `and Network must agree)`,
    );
  }
  return cidr;
}

/**
 * Another node's lease from its podCIDR and annotations. Undefined (with `skip` saying why) when the
 * node publishes no lease yet; an Error when it publishes a broken one.
 */
export function nodeToLease(node: V1Node, names: LeaseAnnotations, network: Ipv4Cidr): { lease?: Lease; skip?: string } {
  const a = node.metadata?.annotations ?? {};
  if (a[names.kubeSubnetManager] !== 'true') return { skip: `no ${names.kubeSubnetManager}=true annotation` };
  // A podCIDR outside Network is delivered: lease admission rejects it (outside-network) where it is counted.
  void network;
  const cidr = nodePodCidr(node);
  const dataText = a[names.backendData] ?? 'null';
  if (dataText.length > MAX_LEASE_VALUE_BYTES)
    throw new LeaseTooBigError(
      `annotation ${names.backendData} of ${dataText.length} bytes is over the ${MAX_LEASE_VALUE_BYTES}-byte limit (not parsed)`,
    );
  let data: unknown;
  try {
    data = JSON.parse(dataText);
  } catch {
    throw new Error(`annotation ${names.backendData} is not JSON: ${JSON.stringify(a[names.backendData])}`);
  }
  // One validator for both modes: the etcd codec checks PublicIP and BackendType.
  const attrs = decodeLeaseAttrs(
    encodeLeaseAttrs({ PublicIP: a[names.publicIp] ?? '', BackendType: a[names.backendType] ?? '', BackendData: data }),
  );
  const created = node.metadata?.creationTimestamp ? new Date(node.metadata.creationTimestamp).getTime() : NaN;
  return { lease: { subnet: formatIpv4Cidr(cidr), attrs, ...(Number.isFinite(created) ? { order: created } : {}) } };
}
