/**
 * weftd's command line: flannel's flag names (so a flanneld DaemonSet's args carry over), each also
 * settable from the environment as flannel does (`FLANNELD_<FLAG>`, dashes as underscores) or as
 * `WEFTD_<FLAG>`. Precedence: command line, then WEFTD_, then FLANNELD_, then the default.
 *
 * Own parser rather than node:util parseArgs: flannel's users write Go-style flags (`-ip-masq`,
 * `--iptables-forward-rules=false`, `-etcd-endpoints=...`), which parseArgs does not accept. The table
 * below is the single source for parsing, environment names and `--help`. Every bad value is reported
 * with the flag (and the variable it came from) and the reason; nothing is silently defaulted.
 */

export interface WeftdConfig {
  etcdEndpoints: string[];
  etcdPrefix: string;
  etcdCaFile?: string;
  etcdCertFile?: string;
  etcdKeyFile?: string;
  ifaces: string[];
  publicIp?: string;
  subnetFile: string;
  ipMasq: boolean;
  /** Minutes before expiry at which the lease is renewed. */
  subnetLeaseRenewMargin: number;
  /** Seconds; flannel's fixed 24 h. */
  subnetLeaseTtl: number;
  kubeSubnetMgr: boolean;
  kubeApiUrl?: string;
  kubeconfigFile?: string;
  kubeAnnotationPrefix: string;
  nodeName?: string;
  netConfigPath: string;
  healthzIp: string;
  healthzPort: number;
  iptablesResync: number;
  iptablesForwardRules: boolean;
  logLevel: string;
  /** The datapath's offloads: auto (what the kernel supports), on (fail without them), off (the per-packet loop). */
  vtepOffload: 'auto' | 'on' | 'off';
  /** Flow entropy (RFC 7348 §5): UDP source ports the datapath sends from, one per inner-flow hash; 0 = the VXLAN port only. */
  vtepSourcePorts: number;
  networkPolicy: boolean;
  /** State file, host lock and hand-over socket; default: the subnet file's directory. */
  runDir: string;
  afterHandover: 'exit' | 'wait';
  /** Remove what weftd leaves on a normal stop (device, routes, state file) and exit. */
  cleanup: boolean;
  /** Where the CNI IPAM store keeps one file per pod address (readiness after a subnet change). */
  cniIpamDir: string;
}

type Kind = 'string' | 'list' | 'bool' | 'int';

interface FlagSpec {
  flag: string;
  key: keyof WeftdConfig;
  kind: Kind;
  def?: string;
  help: string;
  /** Extra check on the parsed value; returns the reason it is wrong. */
  check?: (v: never) => string | undefined;
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

export const FLAGS: readonly FlagSpec[] = [
  {
    flag: 'etcd-endpoints',
    key: 'etcdEndpoints',
    kind: 'list',
    def: 'http://127.0.0.1:4001,http://127.0.0.1:2379',
    help: 'comma-separated etcd client URLs',
    check: (v: string[]) => notUrl(v),
  },
  {
    flag: 'etcd-prefix',
    key: 'etcdPrefix',
    kind: 'string',
    def: '/coreos.com/network',
    help: 'etcd key prefix: config at <prefix>/config, leases under <prefix>/subnets/',
    check: (v: string) => (v.startsWith('/') ? undefined : 'must start with /'),
  },
  { flag: 'etcd-cafile', key: 'etcdCaFile', kind: 'string', help: 'CA certificate file to verify etcd servers (TLS)' },
  { flag: 'etcd-certfile', key: 'etcdCertFile', kind: 'string', help: 'client certificate file for etcd (TLS, with --etcd-keyfile)' },
  { flag: 'etcd-keyfile', key: 'etcdKeyFile', kind: 'string', help: 'client key file for etcd (TLS, with --etcd-certfile)' },
  {
    flag: 'iface',
    key: 'ifaces',
    kind: 'list',
    def: '',
    help: "underlay interface (name or IPv4 address) for VXLAN; repeatable, first found wins; default: the default route's interface",
  },
  {
    flag: 'public-ip',
    key: 'publicIp',
    kind: 'string',
    help: 'IPv4 address other nodes send VXLAN to (default: the --iface address)',
    check: (v: string) => (isIpv4(v) ? undefined : 'is not an IPv4 address'),
  },
  {
    flag: 'subnet-file',
    key: 'subnetFile',
    kind: 'string',
    def: '/run/flannel/subnet.env',
    help: 'where to write FLANNEL_NETWORK/SUBNET/MTU/IPMASQ for the CNI plugin',
  },
  {
    flag: 'ip-masq',
    key: 'ipMasq',
    kind: 'bool',
    def: 'false',
    help: 'masquerade pod traffic leaving the cluster network (chain WEFT-POSTRTG)',
  },
  {
    flag: 'subnet-lease-renew-margin',
    key: 'subnetLeaseRenewMargin',
    kind: 'int',
    def: '60',
    help: 'renew the lease this many minutes before it expires',
  },
  {
    flag: 'subnet-lease-ttl',
    key: 'subnetLeaseTtl',
    kind: 'int',
    def: '86400',
    help: '(weft) lease lifetime in etcd, seconds (flannel: fixed 24 h)',
  },
  {
    flag: 'kube-subnet-mgr',
    key: 'kubeSubnetMgr',
    kind: 'bool',
    def: 'false',
    help: "take the subnet from the Kubernetes node's podCIDR instead of etcd",
  },
  { flag: 'kube-api-url', key: 'kubeApiUrl', kind: 'string', help: 'Kubernetes API server URL (default: in-cluster or kubeconfig)' },
  { flag: 'kubeconfig-file', key: 'kubeconfigFile', kind: 'string', help: 'kubeconfig file (default: in-cluster service account)' },
  {
    flag: 'kube-annotation-prefix',
    key: 'kubeAnnotationPrefix',
    kind: 'string',
    def: 'flannel.alpha.coreos.com',
    help: 'prefix of the node annotations weftd publishes',
  },
  { flag: 'node-name', key: 'nodeName', kind: 'string', help: "this node's Kubernetes name (default: $NODE_NAME, as flannel)" },
  {
    flag: 'net-config-path',
    key: 'netConfigPath',
    kind: 'string',
    def: '/etc/kube-flannel/net-conf.json',
    help: 'net-conf.json to read in Kubernetes mode',
  },
  {
    flag: 'healthz-ip',
    key: 'healthzIp',
    kind: 'string',
    def: '0.0.0.0',
    help: 'address of the HTTP endpoint (/healthz /readyz /metrics /v1/status)',
    check: (v: string) => (isIpv4(v) || v === '::' ? undefined : 'is not an IP address'),
  },
  {
    flag: 'healthz-port',
    key: 'healthzPort',
    kind: 'int',
    def: '0',
    help: 'port of the HTTP endpoint; 0 disables it',
    check: (v: number) => (v <= 65535 ? undefined : 'is not a port number (0-65535)'),
  },
  {
    flag: 'iptables-resync',
    key: 'iptablesResync',
    kind: 'int',
    def: '5',
    help: "seconds between checks that weftd's iptables rules are still in place",
    check: (v: number) => (v >= 1 ? undefined : 'must be at least 1'),
  },
  {
    flag: 'iptables-forward-rules',
    key: 'iptablesForwardRules',
    kind: 'bool',
    def: 'true',
    help: 'accept forwarding to and from the cluster network (chain WEFT-FWD)',
  },
  {
    flag: 'vtep-offload',
    key: 'vtepOffload',
    kind: 'string',
    def: 'auto',
    help:
      '(weft) datapath offloads (TAP TSO, UDP GSO/GRO): auto = what the kernel supports, on = fail without them, off = the ' +
      'per-packet loop',
    check: (v: string) => (['auto', 'on', 'off'].includes(v) ? undefined : 'must be auto, on or off'),
  },
  {
    flag: 'vtep-source-ports',
    key: 'vtepSourcePorts',
    kind: 'int',
    def: '8',
    help:
      '(weft) flow entropy: send from this many UDP source ports, one per inner-flow hash, so ECMP and receive queues ' +
      'spread flows; 0 = every datagram from the VXLAN port (more small packets per send in offload mode)',
    check: (v: number) => (v >= 0 && v <= 64 ? undefined : 'must be 0..64'),
  },
  {
    flag: 'network-policy',
    key: 'networkPolicy',
    kind: 'bool',
    def: 'false',
    help:
      "(weft) enforce Kubernetes NetworkPolicy for this node's pods in nftables table inet weft (needs the API: Kubernetes mode, " +
      'or --kubeconfig-file/--kube-api-url/in-cluster credentials in etcd mode); off deletes that table',
  },
  {
    flag: 'run-dir',
    key: 'runDir',
    kind: 'string',
    def: '',
    help:
      '(weft) directory of weftd-state.json (what a restart forwards with before etcd answers), weftd.lock and weftd.sock ' +
      '(hand-over); default: the --subnet-file directory',
  },
  {
    flag: 'after-handover',
    key: 'afterHandover',
    kind: 'string',
    def: 'exit',
    help:
      '(weft) what an old weftd does once a newer one took the node over: exit (0), or wait idle for SIGTERM (a DaemonSet pod that ' +
      'must not be restarted)',
    check: (v: string) => (v === 'exit' || v === 'wait' ? undefined : 'must be exit or wait'),
  },
  {
    flag: 'cleanup',
    key: 'cleanup',
    kind: 'bool',
    def: 'false',
    help:
      '(weft) remove what a stop leaves behind (the VTEP device, with its routes and neighbours, and the state file), then exit; ' +
      'for a node leaving weft',
  },
  {
    flag: 'cni-ipam-dir',
    key: 'cniIpamDir',
    kind: 'string',
    def: '/var/lib/cni/networks',
    help:
      '(weft) the CNI IPAM store (host-local layout): after a subnet change weftd is not ready while pod addresses of the old ' +
      'subnet remain there',
  },
  {
    flag: 'log-level',
    key: 'logLevel',
    kind: 'string',
    def: 'info',
    help: `(weft) ${LOG_LEVELS.join('|')}`,
    check: (v: string) => (LOG_LEVELS.includes(v) ? undefined : `must be one of ${LOG_LEVELS.join(', ')}`),
  },
];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type ParsedCommandLine = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; config: WeftdConfig };

/** `argv` without node and script; `env` as process.env. Throws ConfigError naming the flag. */
export function parseWeftdArgs(argv: readonly string[], env: Record<string, string | undefined>): ParsedCommandLine {
  const given = new Map<string, { value: string; from: string }>();
  for (const f of FLAGS) {
    const envName = f.flag.toUpperCase().replace(/-/g, '_');
    for (const prefix of ['FLANNELD_', 'WEFTD_']) {
      const v = env[prefix + envName];
      if (v !== undefined) given.set(f.flag, { value: v, from: `${prefix}${envName}` });
    }
  }
  const fromArgs = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const m = /^--?([a-z0-9-]+)(?:=(.*))?$/s.exec(argv[i]);
    if (!m) throw new ConfigError(`unexpected argument ${JSON.stringify(argv[i])} (flags look like --name=value; see --help)`);
    const name = m[1];
    if (name === 'help' || name === 'h') return { kind: 'help' };
    if (name === 'version') return { kind: 'version' };
    const spec = FLAGS.find((f) => f.flag === name);
    if (!spec) throw new ConfigError(`unknown flag --${name} (see --help)`);
    let value = m[2];
    if (value === undefined) {
      if (spec.kind === 'bool') value = 'true';
      else if (i + 1 < argv.length) value = argv[++i]!;
      else throw new ConfigError(`--${name} needs a value`);
    }
    fromArgs.set(name, [...(fromArgs.get(name) ?? []), value]);
  }
  for (const [name, values] of fromArgs) given.set(name, { value: values.join(','), from: `--${name}` });
  if (!given.has('node-name') && env.NODE_NAME) given.set('node-name', { value: env.NODE_NAME, from: 'NODE_NAME' });

  const config: Record<string, unknown> = {};
  for (const f of FLAGS) {
    const g = given.get(f.flag) ?? (f.def !== undefined ? { value: f.def, from: `--${f.flag} default` } : undefined);
    if (g === undefined) continue;
    config[f.key] = convert(f, g.value, g.from);
  }
  const c = config as unknown as WeftdConfig;
  if (c.runDir === '') c.runDir = c.subnetFile.includes('/') ? c.subnetFile.slice(0, c.subnetFile.lastIndexOf('/')) || '/' : '.';
  checkCombinations(c);
  return { kind: 'run', config: c };
}

function convert(f: FlagSpec, raw: string, from: string): unknown {
  const where = from.startsWith('--') ? from : `${from} (--${f.flag})`;
  let v: unknown;
  switch (f.kind) {
    case 'string':
      v = raw;
      break;
    case 'list':
      v = raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      break;
    case 'bool':
      if (!/^(true|false|1|0)$/i.test(raw)) throw new ConfigError(`${where}: ${JSON.stringify(raw)} is not true or false`);
      v = /^(true|1)$/i.test(raw);
      break;
    case 'int':
      if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${where}: ${JSON.stringify(raw)} is not a whole number`);
      v = Number(raw);
      break;
  }
  const why = f.check?.(v as never);
  if (why) throw new ConfigError(`${where}: ${f.kind === 'list' ? '' : `${JSON.stringify(raw)} `}${why}`);
  return v;
}

function checkCombinations(c: WeftdConfig): void {
  if ((c.etcdCertFile === undefined) !== (c.etcdKeyFile === undefined)) {
    throw new ConfigError('--etcd-certfile and --etcd-keyfile go together: give both or neither');
  }
  if (c.subnetLeaseTtl < 60) throw new ConfigError(`--subnet-lease-ttl: ${c.subnetLeaseTtl} s is too short (at least 60)`);
  if (c.subnetLeaseRenewMargin * 60 >= c.subnetLeaseTtl) {
    throw new ConfigError(
      `--subnet-lease-renew-margin: ${c.subnetLeaseRenewMargin} min is not shorter than the lease lifetime (${c.subnetLeaseTtl} s, ` +
        `--subnet-lease-ttl)`,
    );
  }
  if (!c.kubeSubnetMgr && c.etcdEndpoints.length === 0) throw new ConfigError('--etcd-endpoints: no endpoint given');
  if (c.kubeSubnetMgr && !c.nodeName) {
    throw new ConfigError("--kube-subnet-mgr needs this node's name: --node-name or $NODE_NAME (the DaemonSet sets it from spec.nodeName)");
  }
}

function notUrl(urls: string[]): string | undefined {
  const bad = urls.find((u) => !/^https?:\/\/[^/\s]+/.test(u));
  return bad === undefined ? undefined : `${JSON.stringify(bad)} is not an http:// or https:// URL`;
}

function isIpv4(v: string): boolean {
  return /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(v) && v.split('.').every((o) => Number(o) <= 255);
}

export function weftdHelp(): string {
  const rows = FLAGS.map((f) => {
    const head = `  --${f.flag}${f.kind === 'bool' ? '' : '=' + (f.kind === 'int' ? 'N' : 'VALUE')}`;
    const def = f.def !== undefined && f.def !== '' ? ` (default ${f.def})` : '';
    const envName = f.flag.toUpperCase().replace(/-/g, '_');
    return `${head}\n      ${f.help}${def}\n      env: WEFTD_${envName} or FLANNELD_${envName}`;
  });
  return [
    "weftd: the weft node agent. Holds this node's pod subnet lease (flannel's etcd schema, or the",
    "Kubernetes node's podCIDR), runs the userspace VXLAN device weft.<VNI>, programs a route, a",
    'neighbour and an FDB entry per remote node, writes the subnet file for the CNI plugin.',
    '',
    'Usage: weftd [flags]        (flags as in flanneld: --name=value, --name value, -name=value)',
    '',
    'Flags:',
    ...rows,
    '  --help      this text',
    '  --version   print the version',
    '',
    'Booleans take --flag, --flag=true or --flag=false. Precedence: command line, WEFTD_*, FLANNELD_*, default.',
    'Signals: SIGTERM/SIGINT stop weftd and leave the lease, the device, its routes and the state file in',
    'place: a restart forwards again from the state file before it talks to etcd. A second weftd started',
    'on the node takes the datapath over from the running one (hand-over over <run dir>/weftd.sock).',
    '',
  ].join('\n');
}
