/**
 * deploy/10-weft.conflist executed with a container runtime's semantics (plugins in order, each with
 * the previous result as prevResult; CHECK in order and DEL in reverse with the final result), with
 * the reference plugins from /usr/lib/cni chained after weft: portmap (from the conflist), then
 * bandwidth and tuning. They must accept weft's result as prevResult, do their work on the node and
 * in the pod (a port mapping carries an HTTP request to the pod), pass CHECK, and be undone by DEL.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CniRuntime, run, type CniAttachment, type CniConflist, type LabProcess } from '@weft/netlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostVethName } from '../dist/index.js';
import { CniLab, REFERENCE_PLUGINS, WEFT_BIN_DIR, invokePlugin } from './cni-lab.js';

const CONFLIST = fileURLToPath(new URL('../../../deploy/10-weft.conflist', import.meta.url));

let n: CniLab;
let server: LabProcess | undefined;
beforeAll(async () => {
  n = await CniLab.create('cnic');
});
afterAll(async () => {
  await server?.stop();
  await n?.destroy();
});

function chainedConflist(): CniConflist {
  const list = JSON.parse(readFileSync(CONFLIST, 'utf8')) as CniConflist;
  const [weft, ...rest] = list.plugins;
  expect(weft?.type).toBe('weft');
  expect(rest.map((p) => p.type)).toEqual(['portmap']);
  return {
    ...list,
    plugins: [
      { ...weft!, subnetFile: n.subnetFile, dataDir: n.dataDir },
      ...rest,
      { type: 'bandwidth', capabilities: { bandwidth: true } },
      { type: 'tuning', sysctl: { 'net.core.somaxconn': '512' } },
    ],
  };
}

const nat = async (): Promise<string> => (await n.lab.exec(n.node, 'iptables', ['-w', '-t', 'nat', '-S'])).stdout;

describe('the weft conflist chained with portmap, bandwidth and tuning', () => {
  it('ADD, CHECK, DEL with runtime semantics', async () => {
    const pod = await n.addPod();
    const conflist = chainedConflist();
    const runtime = new CniRuntime(conflist, [WEFT_BIN_DIR, REFERENCE_PLUGINS], n.node);
    const attachment: CniAttachment = {
      containerId: pod.id,
      netnsPath: pod.netns,
      ifName: 'eth0',
      args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web',
      capabilityArgs: {
        portMappings: [{ hostPort: 18080, containerPort: 8080, protocol: 'tcp' }],
        bandwidth: { ingressRate: 8_000_000, ingressBurst: 80_000, egressRate: 8_000_000, egressBurst: 80_000 },
      },
    };
    const result = (await runtime.add(attachment)) as {
      cniVersion: string;
      interfaces: Array<{ name: string }>;
      ips: Array<{ address: string }>;
    };
    const veth = hostVethName(pod.id, 'eth0');
    expect(result.cniVersion).toBe('1.0.0');
    // weft's three interfaces, then bandwidth's ifb device for shaping traffic out of the pod.
    expect(result.interfaces.map((i) => i.name).slice(0, 3)).toEqual(['cni0', veth, 'eth0']);
    const ifb = result.interfaces[3]?.name ?? '';
    expect(ifb).toMatch(/^bwp/);
    const podIp = result.ips[0]!.address.split('/')[0]!;

    // portmap: DNAT on the node, and it carries traffic to the pod.
    expect(await nat()).toContain('--dport 18080');
    server = n.lab.spawn(pod.ns, 'pod-http', process.execPath, [
      '-e',
      "require('http').createServer((q, s) => s.end('pod says hi')).listen(8080, () => console.log('up'))",
    ]);
    await server.waitFor(/up/);
    const got = await n.lab.exec(n.node, 'curl', ['-sS', '--max-time', '5', 'http://10.244.1.1:18080/']);
    expect(got.stdout).toBe('pod says hi');
    // bandwidth: a tbf qdisc on the host veth (traffic into the pod); tuning: the pod's sysctl.
    expect((await run('tc', ['-n', n.node, 'qdisc', 'show', 'dev', veth])).stdout).toContain('tbf');
    expect((await n.lab.exec(pod.ns, 'sysctl', ['-n', 'net.core.somaxconn'])).stdout.trim()).toBe('512');
    await n.ping(pod.ns, '10.244.1.1');

    // CHECK: each plugin in order with the final result. Debian's portmap 1.1.1 fails CHECK for every
    // IPv4-only attachment (containernetworking/plugins#819, fixed upstream later; the reference bridge
    // plugin in weft's place fails the same way), so portmap's known failure is asserted instead: it
    // must be that bug and nothing else.
    for (const { capabilities, ...plugin } of conflist.plugins) {
      const runtimeConfig = Object.fromEntries(Object.keys(capabilities ?? {}).map((cap) => [cap, attachment.capabilityArgs?.[cap]]));
      const config = { ...plugin, cniVersion: conflist.cniVersion, name: conflist.name, runtimeConfig, prevResult: result };
      const out = await invokePlugin({
        binary: `${plugin.type === 'weft' ? WEFT_BIN_DIR : REFERENCE_PLUGINS}/${plugin.type}`,
        command: 'CHECK',
        config,
        containerId: pod.id,
        netns: pod.netns,
        ifName: 'eth0',
        execNetns: n.node,
        env: { CNI_PATH: REFERENCE_PLUGINS },
      });
      if (plugin.type === 'portmap') expect(out.error?.msg).toMatch(/could not check ipv6 dnat/);
      else expect(out.exitCode, `${plugin.type} CHECK: ${out.stdout}`).toBe(0);
    }

    await server.stop();
    await runtime.del(attachment);
    expect(await nat()).not.toContain('--dport 18080');
    const links = await n.ip(n.node, ['link', 'show']);
    expect(links).not.toContain(veth);
    expect(links).not.toContain(ifb);
    expect(readdirNames(`${n.dataDir}/weft`)).not.toContain(podIp);
    // A runtime may repeat DEL, even without the cached result; the whole chain must accept it.
    await runtime.del(attachment);
  });
});

function readdirNames(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
