import { describe, expect, it } from 'vitest';
import { ConfigError, FLAGS, parseWeftdArgs, weftdHelp, type WeftdConfig } from '../src/cli/weftd-flags.js';

function config(argv: string[], env: Record<string, string> = {}): WeftdConfig {
  const r = parseWeftdArgs(argv, env);
  if (r.kind !== 'run') throw new Error(`expected run, got ${r.kind}`);
  return r.config;
}

describe('weftd flags', () => {
  it("has flannel's defaults", () => {
    const c = config([]);
    expect(c.etcdEndpoints).toEqual(['http://127.0.0.1:4001', 'http://127.0.0.1:2379']);
    expect(c.etcdPrefix).toBe('/coreos.com/network');
    expect(c.subnetFile).toBe('/run/flannel/subnet.env');
    expect(c.ipMasq).toBe(false);
    expect(c.subnetLeaseRenewMargin).toBe(60);
    expect(c.healthzIp).toBe('0.0.0.0');
    expect(c.healthzPort).toBe(0);
    expect(c.iptablesForwardRules).toBe(true);
    expect(c.ifaces).toEqual([]);
    expect(c.netConfigPath).toBe('/etc/kube-flannel/net-conf.json');
    expect(c.vtepSourcePorts).toBe(8);
    expect(config(['--vtep-source-ports=0']).vtepSourcePorts).toBe(0);
  });

  it('accepts --a=b, --a b, -a=b (Go style), bare booleans and =false', () => {
    const c = config([
      '--etcd-endpoints=http://10.0.0.1:2379',
      '--iface',
      'eth1',
      '-public-ip=192.168.1.5',
      '--ip-masq',
      '--iptables-forward-rules=false',
      '-healthz-port',
      '8081',
    ]);
    expect(c.etcdEndpoints).toEqual(['http://10.0.0.1:2379']);
    expect(c.ifaces).toEqual(['eth1']);
    expect(c.publicIp).toBe('192.168.1.5');
    expect(c.ipMasq).toBe(true);
    expect(c.iptablesForwardRules).toBe(false);
    expect(c.healthzPort).toBe(8081);
  });

  it('repeated --iface adds up', () => {
    expect(config(['--iface=eth0', '--iface=10.0.0.5']).ifaces).toEqual(['eth0', '10.0.0.5']);
  });

  it('reads FLANNELD_ and WEFTD_ variables; WEFTD_ beats FLANNELD_, flags beat both', () => {
    const env = { FLANNELD_ETCD_PREFIX: '/flannel', FLANNELD_IP_MASQ: 'true', WEFTD_HEALTHZ_PORT: '9000', FLANNELD_HEALTHZ_PORT: '1' };
    const c = config(['--healthz-port=9100'], env);
    expect(c.etcdPrefix).toBe('/flannel');
    expect(c.ipMasq).toBe(true);
    expect(c.healthzPort).toBe(9100);
    expect(config([], env).healthzPort).toBe(9000);
    expect(config([], { NODE_NAME: 'n1' }).nodeName).toBe('n1');
  });

  it('names the flag (and the variable) of a bad value', () => {
    const bad: Array<[string[], Record<string, string>, RegExp]> = [
      [['--healthz-port=abc'], {}, /--healthz-port: "abc" is not a whole number/],
      [['--healthz-port=70000'], {}, /--healthz-port: "70000" is not a port number/],
      [[], { WEFTD_HEALTHZ_PORT: 'x' }, /WEFTD_HEALTHZ_PORT \(--healthz-port\): "x"/],
      [['--public-ip=1.2.3'], {}, /--public-ip: "1.2.3" is not an IPv4 address/],
      [['--ip-masq=maybe'], {}, /--ip-masq: "maybe" is not true or false/],
      [['--etcd-endpoints=10.0.0.1:2379'], {}, /--etcd-endpoints: "10.0.0.1:2379" is not an http/],
      [['--etcd-prefix=coreos'], {}, /--etcd-prefix: "coreos" must start with \//],
      [['--etcd-certfile=/c.pem'], {}, /--etcd-certfile and --etcd-keyfile go together/],
      [['--subnet-lease-renew-margin=1440'], {}, /--subnet-lease-renew-margin: 1440 min is not shorter/],
      [['--log-level=loud'], {}, /--log-level: "loud" must be one of/],
      [['--no-such-flag'], {}, /unknown flag --no-such-flag/],
      [['--iface'], {}, /--iface needs a value/],
      [['stray'], {}, /unexpected argument "stray"/],
      [['--kube-subnet-mgr'], {}, /--kube-subnet-mgr needs this node's name: --node-name or \$NODE_NAME/],
      [['--vtep-source-ports=65'], {}, /--vtep-source-ports: .*must be 0\.\.64/],
    ];
    for (const [argv, env, re] of bad) {
      expect(() => parseWeftdArgs(argv, env), argv.join(' ') + JSON.stringify(env)).toThrow(re);
      expect(() => parseWeftdArgs(argv, env)).toThrow(ConfigError);
    }
  });

  it('--help and --version win over everything else', () => {
    expect(parseWeftdArgs(['--healthz-port=x', '--help'], {}).kind).toBe('help');
    expect(parseWeftdArgs(['-h'], {}).kind).toBe('help');
    expect(parseWeftdArgs(['--version'], {}).kind).toBe('version');
  });

  it('--help explains every flag and its environment variables', () => {
    const help = weftdHelp();
    for (const f of FLAGS) {
      const envName = f.flag.toUpperCase().replace(/-/g, '_');
      expect(help).toContain(`--${f.flag}`);
      expect(help).toContain(`WEFTD_${envName} or FLANNELD_${envName}`);
    }
  });
  it("--run-dir defaults to the subnet file's directory; --after-handover is exit or wait", () => {
    const run = (argv: string[]): WeftdConfig => (parseWeftdArgs(argv, {}) as { config: WeftdConfig }).config;
    expect(run([]).runDir).toBe('/run/flannel');
    expect(run(['--subnet-file=/tmp/n1/subnet.env']).runDir).toBe('/tmp/n1');
    expect(run(['--run-dir=/run/weft']).runDir).toBe('/run/weft');
    expect(run([]).afterHandover).toBe('exit');
    expect(run(['--after-handover=wait']).afterHandover).toBe('wait');
    expect(() => run(['--after-handover=stay'])).toThrow(/--after-handover: "stay" must be exit or wait/);
    expect(run(['--cleanup']).cleanup).toBe(true);
  });
});
