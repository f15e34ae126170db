/**
 * A DaemonSet's pod, as the kubelet would run it on one node, translated to `podman run` arguments.
 *
 * Only what the manifest says reaches podman, so a test that runs these arguments runs the manifest:
 *   image, command → --entrypoint, args        env: value, fieldRef (spec.nodeName, status.hostIP, ...),
 *   the service account token and KUBERNETES_SERVICE_* (unless automountServiceAccountToken: false),
 *   configMapKeyRef                            volumeMounts: hostPath, configMap, secret → bind mounts
 *   hostNetwork → --network host               securityContext → capabilities (drop ALL → --cap-drop=all),
 *   allowPrivilegeEscalation: false → no-new-privileges, readOnlyRootFilesystem → --read-only (without
 *   podman's extra tmpfs mounts, which Kubernetes does not add), seccompProfile RuntimeDefault → podman's
 *   default profile (Unconfined → seccomp=unconfined), privileged → --privileged.
 * Anything the translation does not know (another volume type, a fieldRef it cannot fill) throws rather
 * than being dropped silently. Where files come from (the node's host root, the ConfigMap written out)
 * is the caller's: `NodeView`.
 */
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; configMapKeyRef?: { name: string; key: string }; secretKeyRef?: unknown };
}

export interface SecurityContext {
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  runAsUser?: number;
  seccompProfile?: { type: string; localhostProfile?: string };
  capabilities?: { add?: string[]; drop?: string[] };
}

export interface ContainerSpec {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  securityContext?: SecurityContext;
}

export interface VolumeSpec {
  name: string;
  hostPath?: { path: string; type?: string };
  configMap?: { name: string };
  secret?: { secretName: string };
  emptyDir?: Record<string, unknown>;
}

export interface PodSpec {
  hostNetwork?: boolean;
  automountServiceAccountToken?: boolean;
  securityContext?: { seccompProfile?: { type: string } };
  initContainers?: ContainerSpec[];
  containers: ContainerSpec[];
  volumes?: VolumeSpec[];
}

/** What the node and the cluster supply: identities, and where each volume's files are on disk. */
export interface NodeView {
  nodeName: string;
  nodeIp: string;
  podName: string;
  namespace: string;
  /** The image the manifest's image reference stands for here (an image built by this repo). */
  image(ref: string): string;
  /** A ConfigMap's data (for env). */
  configMap(name: string): Record<string, string>;
  /** The directory (or file) that backs a volume on this node, as podman's -v source. */
  volumeSource(volume: VolumeSpec): string;
  /**
   * What the kubelet adds to every container of a pod whose service account token is mounted: the
   * token directory and the KUBERNETES_SERVICE_HOST/PORT variables in-cluster clients read.
   */
  serviceAccount?: { dir: string; env: Record<string, string> };
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** `podman run` arguments (after `run`) for one container of the pod. */
export function podmanRunArgs(pod: PodSpec, c: ContainerSpec, node: NodeView, name: string): string[] {
  const args = ['--name', name, '--pull=never'];
  if (pod.hostNetwork) args.push('--network=host');
  args.push(...securityArgs(c.securityContext, pod.securityContext?.seccompProfile));
  for (const e of c.env ?? []) args.push('--env', `${e.name}=${envValue(e, node)}`);
  for (const m of c.volumeMounts ?? []) {
    const volume = pod.volumes?.find((v) => v.name === m.name);
    if (!volume) throw new Error(`container ${c.name} mounts volume ${m.name}, which the pod does not have`);
    args.push('--volume', `${node.volumeSource(volume)}:${m.mountPath}${m.readOnly || volume.configMap || volume.secret ? ':ro' : ''}`);
  }
  if (node.serviceAccount && pod.automountServiceAccountToken !== false) {
    for (const [k, v] of Object.entries(node.serviceAccount.env)) args.push('--env', `${k}=${v}`);
    args.push('--volume', `${node.serviceAccount.dir}:${SERVICE_ACCOUNT_DIR}:ro`);
  }
  if (c.command) args.push(`--entrypoint=${JSON.stringify(c.command)}`);
  args.push(node.image(c.image), ...(c.args ?? []));
  return args;
}

export function securityArgs(sc: SecurityContext | undefined, podSeccomp?: { type: string }): string[] {
  const out: string[] = [];
  if (sc?.privileged) out.push('--privileged');
  const caps = sc?.capabilities;
  if (caps?.drop?.includes('ALL')) out.push('--cap-drop=all');
  else for (const cap of caps?.drop ?? []) out.push(`--cap-drop=${cap}`);
  for (const cap of caps?.add ?? []) out.push(`--cap-add=${cap}`);
  if (sc?.allowPrivilegeEscalation === false) out.push('--security-opt=no-new-privileges');
  if (sc?.readOnlyRootFilesystem) out.push('--read-only', '--read-only-tmpfs=false');
  if (sc?.runAsUser !== undefined) out.push(`--user=${sc.runAsUser}`);
  const seccomp = sc?.seccompProfile ?? podSeccomp;
  if (seccomp?.type === 'Unconfined') out.push('--security-opt=seccomp=unconfined');
  else if (seccomp !== undefined && seccomp.type !== 'RuntimeDefault') throw new Error(`seccompProfile ${seccomp.type} is not translated`);
  return out;
}

function envValue(e: EnvVar, node: NodeView): string {
  if (e.value !== undefined) return e.value;
  const field = e.valueFrom?.fieldRef?.fieldPath;
  if (field !== undefined) {
    const fields: Record<string, string> = {
      'spec.nodeName': node.nodeName,
      'metadata.name': node.podName,
      'metadata.namespace': node.namespace,
      // hostNetwork: the pod's IP is the node's.
      'status.hostIP': node.nodeIp,
      'status.podIP': node.nodeIp,
    };
    const v = fields[field];
    if (v === undefined) throw new Error(`env ${e.name}: fieldRef ${field} is not translated`);
    return v;
  }
  const ref = e.valueFrom?.configMapKeyRef;
  if (ref) {
    const v = node.configMap(ref.name)[ref.key];
    if (v === undefined) throw new Error(`env ${e.name}: ConfigMap ${ref.name} has no key ${ref.key}`);
    return v;
  }
  throw new Error(`env ${e.name}: ${JSON.stringify(e.valueFrom)} is not translated`);
}
