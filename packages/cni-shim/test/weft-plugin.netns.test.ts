/**
 * The weft plugin on a namespace node: a lab namespace plays the node (the plugin runs inside it, so
 * cni0 and the host veths live there, never in the root namespace), pods are further namespaces,
 * and the subnet file is written by the test as weftd would.
 *
 * ADD in every supported spec version, ping the gateway and pod to pod over the bridge, CHECK (and
 * its precise error on drift), DEL twice, GC, STATUS, 50 parallel ADDs, and ADDs that must fail
 * cleanly (no subnet file, interface already there, a pod-side failure that needs a rollback).
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '@weft/netlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostVethName } from '../dist/index.js';
import { CniLab, added } from './cni-lab.js';

let n: CniLab;
beforeAll(async () => {
  n = await CniLab.create('cni');
});
afterAll(async () => {
  await n?.destroy();
});

const reservations = (): string[] => {
  try {
    return readdirSync(join(n.dataDir, 'weft')).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
  } catch {
    return [];
  }
};

async function nodeLinks(): Promise<string[]> {
  return (await n.ipJson(n.node, ['link', 'show'])).map((l) => String(l.ifname));
}

describe.each(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'])('weft plugin, cniVersion %s', (version) => {
  it('ADD gives a result of that version, DEL removes everything', async () => {
    const pod = await n.addPod();
    const conf = n.conf({}, version);
    const r = added(await n.add(pod, conf));
    expect(r.cniVersion).toBe(version);
    expect(r.interfaces.map((i) => i.name)).toEqual(['cni0', hostVethName(pod.id, 'eth0'), 'eth0']);
    expect(r.interfaces[2]).toMatchObject({ sandbox: pod.netns });
    expect(r.ips[0]).toMatchObject({ gateway: '10.244.1.1', interface: 2 });
    expect(r.ips[0]!.version).toBe(version < '1.0.0' ? '4' : undefined);
    expect(r.interfaces[2]!.mtu).toBe(version === '1.1.0' ? 1450 : undefined);
    if (version >= '0.4.0') {
      const check = await n.invoke({
        command: 'CHECK',
        config: { ...conf, prevResult: r },
        containerId: pod.id,
        netns: pod.netns,
        ifName: 'eth0',
      });
      expect(check.exitCode, check.stdout).toBe(0);
    }
    expect((await n.del(pod, conf)).exitCode).toBe(0);
    expect(await nodeLinks()).not.toContain(hostVethName(pod.id, 'eth0'));
  });
});

describe('weft plugin on a node', () => {
  it('attaches two pods to cni0: gateway and pod-to-pod pings, MTU, routes, hairpin', async () => {
    const a = await n.addPod();
    const b = await n.addPod();
    const ra = added(await n.add(a));
    const rb = added(await n.add(b));
    const ipA = String(ra.ips[0]!.address).split('/')[0]!;
    const ipB = String(rb.ips[0]!.address).split('/')[0]!;
    expect(ipA).not.toBe(ipB);

    const [bridge] = await n.ipJson(n.node, ['addr', 'show', 'dev', 'cni0']);
    expect(bridge).toMatchObject({ address: '0a:58:0a:f4:01:01', mtu: 1450 });
    expect((bridge!.addr_info as Array<{ local: string }>).map((x) => x.local)).toContain('10.244.1.1');
    const [veth] = await n.ipJson(n.node, ['link', 'show', 'dev', hostVethName(a.id, 'eth0')]);
    expect(veth).toMatchObject({ master: 'cni0', mtu: 1450 });
    expect((veth!.linkinfo as { info_slave_data: { hairpin: boolean } }).info_slave_data.hairpin).toBe(true);
    const [podIf] = await n.ipJson(a.ns, ['addr', 'show', 'dev', 'eth0']);
    expect(podIf).toMatchObject({ mtu: 1450, address: ra.interfaces[2]!.mac });
    expect(await n.ip(a.ns, ['route', 'show', 'default'])).toContain('via 10.244.1.1 dev eth0');

    await n.ping(a.ns, '10.244.1.1');
    await n.ping(a.ns, ipB);
    await n.ping(b.ns, ipA);
    expect(await n.del(a)).toMatchObject({ exitCode: 0 });
    expect(await n.del(b)).toMatchObject({ exitCode: 0 });
  });

  it('CHECK passes after ADD and names what drifted', async () => {
    const pod = await n.addPod();
    const r = added(await n.add(pod));
    const check = (): ReturnType<CniLab['invoke']> =>
      n.invoke({ command: 'CHECK', config: { ...n.conf(), prevResult: r }, containerId: pod.id, netns: pod.netns, ifName: 'eth0' });
    expect((await check()).exitCode).toBe(0);

    await n.ip(pod.ns, ['route', 'del', 'default']);
    expect((await check()).error?.msg).toBe(`CHECK: route 0.0.0.0/0 via 10.244.1.1 is missing on eth0 in ${pod.netns}`);
    await n.ip(pod.ns, ['route', 'add', 'default', 'via', '10.244.1.1', 'dev', 'eth0']);

    await n.ip(n.node, ['link', 'set', 'dev', hostVethName(pod.id, 'eth0'), 'nomaster']);
    expect((await check()).error?.msg).toBe(`CHECK: host veth ${hostVethName(pod.id, 'eth0')} is not on bridge cni0 (master: none)`);
    await n.ip(n.node, ['link', 'set', 'dev', hostVethName(pod.id, 'eth0'), 'master', 'cni0']);
    expect((await check()).error?.msg).toBe(
      `CHECK: host veth ${hostVethName(pod.id, 'eth0')} has hairpin mode off, the config asks for it`,
    );
    await n.ip(n.node, ['link', 'set', 'dev', hostVethName(pod.id, 'eth0'), 'type', 'bridge_slave', 'hairpin', 'on']);

    await n.ip(pod.ns, ['addr', 'flush', 'dev', 'eth0']);
    expect((await check()).error?.msg).toContain(`does not have address ${r.ips[0]!.address}`);
    expect((await n.del(pod)).exitCode).toBe(0);
    expect((await check()).error?.msg).toContain('has no reservation');
  });

  it('DEL is idempotent: twice, without CNI_NETNS, after the namespace is gone, without the subnet file', async () => {
    const pod = await n.addPod();
    const ip = String(added(await n.add(pod)).ips[0]!.address).split('/')[0]!;
    n.removeSubnetFile();
    try {
      await run('ip', ['netns', 'del', pod.ns]);
      for (const netns of [pod.netns, undefined]) {
        const out = await n.invoke({ command: 'DEL', config: n.conf(), containerId: pod.id, ifName: 'eth0', ...(netns ? { netns } : {}) });
        expect(out.exitCode, out.stdout).toBe(0);
      }
    } finally {
      n.writeSubnetFile();
    }
    expect(reservations()).not.toContain(ip);
    expect(await nodeLinks()).not.toContain(hostVethName(pod.id, 'eth0'));
  });

  it('GC releases every attachment not in cni.dev/valid-attachments, with its veth', async () => {
    const pods = [await n.addPod(), await n.addPod(), await n.addPod()];
    const ips = [];
    for (const p of pods) ips.push(String(added(await n.add(p)).ips[0]!.address).split('/')[0]);
    const keep = pods[0]!;
    const gc = await n.invoke({
      command: 'GC',
      config: { ...n.conf({}, '1.1.0'), 'cni.dev/valid-attachments': [{ containerID: keep.id, ifname: 'eth0' }] },
    });
    expect(gc.exitCode, gc.stdout).toBe(0);
    expect(reservations()).toEqual([ips[0]]);
    const links = await nodeLinks();
    expect(links).toContain(hostVethName(keep.id, 'eth0'));
    expect(links).not.toContain(hostVethName(pods[1]!.id, 'eth0'));
    expect(links).not.toContain(hostVethName(pods[2]!.id, 'eth0'));
    const noList = await n.invoke({ command: 'GC', config: n.conf({}, '1.1.0') });
    expect(noList.error?.code).toBe(7);
    expect((await n.del(keep)).exitCode).toBe(0);
  });

  it('STATUS is ready with a subnet file and answers 50 without one; ADD then answers 11', async () => {
    expect((await n.invoke({ command: 'STATUS', config: n.conf({}, '1.1.0') })).exitCode).toBe(0);
    n.removeSubnetFile();
    try {
      const status = await n.invoke({ command: 'STATUS', config: n.conf({}, '1.1.0') });
      expect(status.error).toMatchObject({ code: 50 });
      expect(status.error?.msg).toContain('weftd has not leased a subnet');
      const pod = await n.addPod();
      const add = await n.add(pod);
      expect(add.error).toMatchObject({ code: 11 });
      expect(add.error?.msg).toContain(n.subnetFile);
    } finally {
      n.writeSubnetFile();
    }
  });

  it('50 parallel ADDs get 50 distinct addresses; 50 parallel DELs release them all', async () => {
    const before = reservations().length;
    const pods = await Promise.all(Array.from({ length: 50 }, () => n.addPod()));
    const outs = await Promise.all(pods.map((p) => n.add(p)));
    const failed = outs.filter((o) => o.exitCode !== 0);
    expect(failed.map((o) => o.stdout)).toEqual([]);
    const ips = outs.map((o) => String(added(o).ips[0]!.address));
    expect(new Set(ips).size).toBe(50);
    expect(reservations().length).toBe(before + 50);
    const dels = await Promise.all(pods.map((p) => n.del(p)));
    expect(dels.filter((o) => o.exitCode !== 0).map((o) => o.stdout)).toEqual([]);
    expect(reservations().length).toBe(before);
  });

  it('ADD onto an existing interface fails cleanly and leaves nothing behind', async () => {
    const pod = await n.addPod();
    await n.ip(pod.ns, ['link', 'add', 'eth0', 'type', 'bridge']);
    const before = reservations();
    const out = await n.add(pod);
    expect(out.exitCode).toBe(1);
    expect(out.error?.msg).toBe(`interface eth0 already exists in netns ${pod.netns}`);
    expect(reservations()).toEqual(before);
    expect(await nodeLinks()).not.toContain(hostVethName(pod.id, 'eth0'));
    const [own] = await n.ipJson(pod.ns, ['link', 'show', 'dev', 'eth0']);
    expect((own!.linkinfo as { info_kind: string }).info_kind).toBe('bridge');
  });

  it('a second ADD of the same attachment fails cleanly and keeps the first', async () => {
    const pod = await n.addPod();
    const first = added(await n.add(pod));
    const before = reservations();
    const again = await n.add(pod);
    expect(again.exitCode).toBe(1);
    expect(again.error?.msg).toContain('already exists');
    expect(reservations()).toEqual(before);
    await n.ping(pod.ns, '10.244.1.1');
    const check = await n.invoke({
      command: 'CHECK',
      config: { ...n.conf(), prevResult: first },
      containerId: pod.id,
      netns: pod.netns,
      ifName: 'eth0',
    });
    expect(check.exitCode, check.stdout).toBe(0);
    expect((await n.del(pod)).exitCode).toBe(0);
  });

  it('a pod-side failure rolls back the veth pair and the reservation', async () => {
    const pod = await n.addPod();
    // A default route that already exists makes the pod batch fail after the veth pair exists.
    await n.ip(pod.ns, ['link', 'add', 'blocker', 'up', 'type', 'veth', 'peer', 'name', 'blocker2']);
    await n.ip(pod.ns, ['link', 'set', 'blocker2', 'up']);
    await n.ip(pod.ns, ['route', 'add', 'default', 'dev', 'blocker']);
    const before = reservations();
    const out = await n.add(pod);
    expect(out.exitCode).toBe(1);
    expect(out.error?.msg).toContain('route add 0.0.0.0/0 via 10.244.1.1 dev eth0');
    expect(out.error?.msg).toContain('File exists');
    expect(reservations()).toEqual(before);
    expect(await nodeLinks()).not.toContain(hostVethName(pod.id, 'eth0'));
    expect((await n.ipJson(pod.ns, ['link', 'show'])).map((l) => l.ifname)).not.toContain('eth0');
  });

  it('takes CNI_NETNS as /proc/PID/ns/net and refuses the node namespace itself', async () => {
    const pod = await n.addPod();
    const holder = n.lab.spawn(pod.ns, 'netns-holder', 'sleep', ['60']);
    const netns = `/proc/${holder.pid}/ns/net`;
    const r = added(await n.invoke({ command: 'ADD', config: n.conf(), containerId: 'procpath', netns, ifName: 'eth0' }));
    expect(r.interfaces[2]).toMatchObject({ name: 'eth0', sandbox: netns });
    await n.ping(pod.ns, '10.244.1.1');
    expect((await n.invoke({ command: 'DEL', config: n.conf(), containerId: 'procpath', netns, ifName: 'eth0' })).exitCode).toBe(0);
    await holder.stop();

    const self = await n.invoke({
      command: 'ADD',
      config: n.conf(),
      containerId: 'self',
      netns: `/var/run/netns/${n.node}`,
      ifName: 'eth0',
    });
    expect(self.error).toMatchObject({ code: 4 });
    expect(self.error?.msg).toContain("is the plugin's own network namespace");
    const gone = await n.invoke({
      command: 'ADD',
      config: n.conf(),
      containerId: 'gone',
      netns: '/var/run/netns/weft-no-such-ns',
      ifName: 'eth0',
    });
    expect(gone.error).toMatchObject({ code: 3 });
  });
});

describe('weft plugin: what runtimes ask of it', () => {
  it('gives exactly the address requested by CNI_ARGS IP=, the ips capability or args.cni.ips, and DEL frees it', async () => {
    const cases: [string, Record<string, unknown>, Record<string, string>][] = [
      ['10.244.1.77', {}, { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.244.1.77' }],
      ['10.244.1.78', { runtimeConfig: { ips: ['10.244.1.78/24'] } }, {}],
      ['10.244.1.79', { args: { cni: { ips: ['10.244.1.79'] } } }, {}],
    ];
    for (const [want, extra, env] of cases) {
      const pod = await n.addPod();
      const r = added(
        await n.invoke({
          command: 'ADD',
          config: n.conf(extra),
          containerId: pod.id,
          netns: pod.netns,
          ifName: 'eth0',
          env: { WEFT_CNI_LOG: 'warn', ...env },
        }),
      );
      expect(r.ips[0]!.address).toBe(`${want}/24`);
      expect(await n.ip(pod.ns, ['-4', '-o', 'addr', 'show', 'dev', 'eth0'])).toContain(`${want}/24`);
      await n.ping(pod.ns, '10.244.1.1');
      expect(reservations()).toContain(want);
      expect((await n.del(pod, n.conf(extra))).exitCode).toBe(0);
      expect(reservations()).not.toContain(want);
    }
  });

  it('refuses an address already allocated or outside the subnet, leaving nothing behind', async () => {
    const a = await n.addPod();
    const ask = (pod: { id: string; netns: string }, ip: string) =>
      n.invoke({
        command: 'ADD',
        config: n.conf(),
        containerId: pod.id,
        netns: pod.netns,
        ifName: 'eth0',
        env: { WEFT_CNI_LOG: 'warn', CNI_ARGS: `IP=${ip}` },
      });
    added(await ask(a, '10.244.1.90'));
    const b = await n.addPod();
    const before = reservations();
    const taken = await ask(b, '10.244.1.90');
    expect(taken.error).toMatchObject({ code: 11 });
    expect(taken.error?.msg).toContain(`requested address 10.244.1.90 is already allocated to container ${a.id} interface eth0`);
    const outside = await ask(b, '10.244.2.90');
    expect(outside.error).toMatchObject({ code: 7 });
    expect(outside.error?.msg).toContain("requested address 10.244.2.90 (CNI_ARGS IP) is outside this node's subnet 10.244.1.0/24");
    expect(reservations()).toEqual(before);
    expect(await nodeLinks()).not.toContain(hostVethName(b.id, 'eth0'));
    expect((await n.del(a)).exitCode).toBe(0);
  });

  it('answers code 4 "invalid netns" when CNI_NETNS is not a network namespace', async () => {
    const file = join(n.dir, 'not-a-netns');
    writeFileSync(file, '');
    for (const netns of [file, n.dir, '/proc/self/ns/mnt']) {
      const out = await n.invoke({ command: 'ADD', config: n.conf(), containerId: 'badns', netns, ifName: 'eth0' });
      expect(out.error, netns).toMatchObject({ code: 4 });
      expect(out.error?.msg).toContain(`invalid netns: CNI_NETNS ${netns} is not a network namespace`);
    }
    expect(reservations().length).toBe(0);
    expect((await n.invoke({ command: 'DEL', config: n.conf(), containerId: 'badns', netns: file, ifName: 'eth0' })).exitCode).toBe(0);
  });
});
