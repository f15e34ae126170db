/**
 * The skeleton with injected environment and stdio: env/stdin decoding, version negotiation, the
 * error JSON and exit codes, VERSION, and the ADD result printed in the negotiated version.
 */
import { describe, expect, it } from 'vitest';
import { CniError, SUPPORTED_VERSIONS, pluginMain, type CmdArgs, type CniResult, type PluginFuncs } from '../dist/index.js';

const RESULT: CniResult = {
  interfaces: [
    { name: 'cni0', mac: '0a:58:0a:f4:01:01', mtu: 1450 },
    { name: 'eth0', mac: '0a:58:0a:f4:01:02', mtu: 1450, sandbox: '/var/run/netns/p' },
  ],
  ips: [{ address: '10.244.1.2/24', gateway: '10.244.1.1', interface: 1 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.244.1.1' }],
  dns: {},
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: Record<string, unknown>;
  calls: CmdArgs[];
}

const POD_ENV = { CNI_CONTAINERID: 'c1', CNI_NETNS: '/var/run/netns/p', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };

async function run(env: Record<string, string>, stdin: unknown, funcs: Partial<PluginFuncs> = {}): Promise<Run> {
  const calls: CmdArgs[] = [];
  const record = (a: CmdArgs): void => void calls.push(a);
  const all: PluginFuncs = {
    add: async (a) => (record(a), RESULT),
    del: async (a) => record(a),
    check: async (a) => record(a),
    gc: async (a) => record(a),
    status: async (a) => record(a),
    ...funcs,
  };
  let stdout = '';
  let stderr = '';
  const code = await pluginMain(
    all,
    {
      env,
      readStdin: () => (typeof stdin === 'string' ? stdin : JSON.stringify(stdin)),
      writeStdout: (t) => (stdout += t),
      writeStderr: (t) => (stderr += t),
    },
    'test plugin',
  );
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(stdout) as Record<string, unknown>;
  } catch {
    // no JSON output
  }
  return { code, stdout, stderr, json, calls };
}

describe('skel: environment', () => {
  it('prints the about text and versions to stderr when CNI_COMMAND is unset', async () => {
    const r = await run({}, '');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('test plugin');
    expect(r.stderr).toContain('1.1.0');
  });

  it('rejects an unknown CNI_COMMAND with code 4', async () => {
    const r = await run({ CNI_COMMAND: 'FROB' }, { cniVersion: '1.0.0', name: 'weft' });
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ code: 4 });
    expect(r.json.msg).toContain('FROB');
  });

  it.each(['ADD', 'CHECK'])('%s names every missing variable (code 4)', async (cmd) => {
    const r = await run({ CNI_COMMAND: cmd }, { cniVersion: '1.0.0', name: 'weft' });
    expect(r.json).toMatchObject({ code: 4, cniVersion: '1.1.0' });
    expect(r.json.msg).toContain('CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME');
    expect(r.calls).toHaveLength(0);
  });

  it('DEL does not need CNI_NETNS', async () => {
    const r = await run({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0' }, { cniVersion: '1.0.0', name: 'weft' });
    expect(r.code).toBe(0);
    expect(r.calls[0]).toMatchObject({ command: 'DEL', containerId: 'c1', ifName: 'eth0', netns: '' });
  });

  it('GC and STATUS need no attachment variables', async () => {
    for (const cmd of ['GC', 'STATUS']) {
      const r = await run({ CNI_COMMAND: cmd }, { cniVersion: '1.1.0', name: 'weft' });
      expect(r.code, r.stdout).toBe(0);
    }
  });

  it.each([
    ['CNI_CONTAINERID', '-starts-with-dash'],
    ['CNI_CONTAINERID', 'a;rm -rf /'],
    ['CNI_IFNAME', 'eth0 up'],
    ['CNI_IFNAME', 'averyveryverylongname'],
    ['CNI_IFNAME', 'a/b'],
    ['CNI_IFNAME', 'x#y'],
    ['CNI_NETNS', 'relative/path'],
  ])('rejects %s=%j with code 4 naming it', async (name, value) => {
    const r = await run({ CNI_COMMAND: 'ADD', ...POD_ENV, [name]: value }, { cniVersion: '1.0.0', name: 'weft' });
    expect(r.json).toMatchObject({ code: 4 });
    expect(r.json.msg).toContain(name);
    expect(r.calls).toHaveLength(0);
  });
});

describe('skel: config and versions', () => {
  it('answers VERSION with the versions, echoing the given cniVersion', async () => {
    const r = await run({ CNI_COMMAND: 'VERSION' }, { cniVersion: '0.4.0' });
    expect(r.code).toBe(0);
    expect(r.json).toEqual({ cniVersion: '0.4.0', supportedVersions: [...SUPPORTED_VERSIONS] });
    const bare = await run({ CNI_COMMAND: 'VERSION' }, '');
    expect(bare.json.cniVersion).toBe('1.1.0');
  });

  it('reports malformed JSON as code 6, never a stack trace', async () => {
    const r = await run({ CNI_COMMAND: 'ADD', ...POD_ENV }, '{"cniVersion": "1.0.0",');
    expect(r.json).toMatchObject({ code: 6 });
    expect(r.json.msg).toContain('cannot decode the network config');
    expect(r.stderr).toBe('');
    const empty = await run({ CNI_COMMAND: 'ADD', ...POD_ENV }, '');
    expect(empty.json.msg).toContain('stdin is empty');
    const list = await run({ CNI_COMMAND: 'ADD', ...POD_ENV }, '[1]');
    expect(list.json).toMatchObject({ code: 6 });
  });

  it('needs a valid network name (code 7)', async () => {
    expect((await run({ CNI_COMMAND: 'ADD', ...POD_ENV }, { cniVersion: '1.0.0' })).json).toMatchObject({
      code: 7,
      msg: 'network config has no "name"',
    });
    const bad = await run({ CNI_COMMAND: 'ADD', ...POD_ENV }, { cniVersion: '1.0.0', name: '../etc' });
    expect(bad.json).toMatchObject({ code: 7 });
  });

  it('refuses unknown and missing versions with code 1', async () => {
    const r = await run({ CNI_COMMAND: 'ADD', ...POD_ENV }, { cniVersion: '0.2.0', name: 'weft' });
    expect(r.json).toMatchObject({ code: 1, cniVersion: '1.1.0' });
    expect(r.json.msg).toContain('"0.2.0"');
    expect(r.json.details).toContain('1.1.0');
    const missing = await run({ CNI_COMMAND: 'ADD', ...POD_ENV }, { name: 'weft' });
    expect(missing.json.msg).toContain('no cniVersion');
    const typed = await run({ CNI_COMMAND: 'ADD', ...POD_ENV }, { cniVersion: 1, name: 'weft' });
    expect(typed.json).toMatchObject({ code: 6 });
  });

  it('gates CHECK at 0.4.0 and GC/STATUS at 1.1.0', async () => {
    expect((await run({ CNI_COMMAND: 'CHECK', ...POD_ENV }, { cniVersion: '0.3.1', name: 'weft' })).json).toMatchObject({
      code: 1,
      msg: 'config version 0.3.1 does not allow CHECK',
    });
    expect((await run({ CNI_COMMAND: 'CHECK', ...POD_ENV }, { cniVersion: '0.4.0', name: 'weft' })).code).toBe(0);
    expect((await run({ CNI_COMMAND: 'GC' }, { cniVersion: '1.0.0', name: 'weft' })).json).toMatchObject({ code: 1 });
    expect((await run({ CNI_COMMAND: 'STATUS' }, { cniVersion: '1.0.0', name: 'weft' })).json).toMatchObject({ code: 1 });
  });

  it('passes the decoded invocation to the verb', async () => {
    const r = await run(
      { CNI_COMMAND: 'ADD', ...POD_ENV, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=x' },
      { cniVersion: '1.0.0', name: 'weft', bridge: 'br9' },
    );
    expect(r.calls[0]).toMatchObject({ command: 'ADD', cniVersion: '1.0.0', args: 'IgnoreUnknown=1;K8S_POD_NAME=x', path: '/opt/cni/bin' });
    expect(r.calls[0]!.config.bridge).toBe('br9');
  });
});

describe('skel: results and errors', () => {
  it('prints the ADD result in the negotiated version', async () => {
    const v100 = await run({ CNI_COMMAND: 'ADD', ...POD_ENV }, { cniVersion: '1.0.0', name: 'weft' });
    expect(v100.json.cniVersion).toBe('1.0.0');
    expect((v100.json.ips as unknown[])[0]).toEqual({ address: '10.244.1.2/24', gateway: '10.244.1.1', interface: 1 });
    const v031 = await run({ CNI_COMMAND: 'ADD', ...POD_ENV }, { cniVersion: '0.3.1', name: 'weft' });
    expect((v031.json.ips as unknown[])[0]).toMatchObject({ version: '4' });
  });

  it('prints a CniError with its code, message and details in the config version', async () => {
    const r = await run(
      { CNI_COMMAND: 'ADD', ...POD_ENV },
      { cniVersion: '0.4.0', name: 'weft' },
      {
        add: async () => {
          throw new CniError(11, 'subnet file missing', 'start weftd');
        },
      },
    );
    expect(r.code).toBe(1);
    expect(r.json).toEqual({ cniVersion: '0.4.0', code: 11, msg: 'subnet file missing', details: 'start weftd' });
  });

  it('turns an unexpected exception into code 999 with its message on stdout', async () => {
    const r = await run(
      { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0' },
      { cniVersion: '1.0.0', name: 'weft' },
      {
        del: async () => {
          throw new TypeError('boom');
        },
      },
    );
    expect(r.json).toEqual({ cniVersion: '1.0.0', code: 999, msg: 'boom' });
    expect(r.stdout).not.toContain('at ');
  });
});
