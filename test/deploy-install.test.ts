/**
 * The image's install step, run for real into a temp root that plays the node's filesystem.
 *
 * The steps are the DaemonSet's init containers of deploy/weft.yml: their commands and arguments are taken from
 * the manifest, and only the paths are moved — each hostPath mount to <root>/<host path>, the ConfigMap mount
 * to a directory holding its keys, the image's /opt/weft to a temp image tree. So this runs what a node runs.
 * The plugin executable is built once as the image build does (weft-build-cni): from the real CNI plugin when
 * it is built, else from a stand-in that answers VERSION. Later versions for the upgrade test are that
 * executable with a marker appended (an ELF ignores trailing bytes): same program, different payload.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { access, appendFile, mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCniPlugin } from '@weft/installer/build';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadManifests } from './lib/kube-manifests.js';

const ROOT = join(import.meta.dirname, '..');
const INSTALLER = join(ROOT, 'packages/installer/bin/weft-install-cni');
const IMAGE_TREE = '/opt/weft';
const SUPPORTED = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];
const REAL_PLUGIN = join(ROOT, 'packages/cni-shim/bin/weft');

interface Mount {
  name: string;
  mountPath: string;
}
interface InitContainer {
  name: string;
  command: string[];
  args: string[];
  volumeMounts: Mount[];
}
interface PodSpec {
  initContainers: InitContainer[];
  volumes: Array<{ name: string; hostPath?: { path: string }; configMap?: { name: string } }>;
}

const objects = await loadManifests(join(ROOT, 'deploy/weft.yml'));
const pod = (objects.find((o) => o.kind === 'DaemonSet') as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
const configData = (objects.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> }).data;

/** A node: a temp root, the ConfigMap's keys as files, an image tree; runs the init containers' commands. */
class NodeRoot {
  constructor(readonly root: string) {}

  static async create(): Promise<NodeRoot> {
    const node = new NodeRoot(await mkdtemp(join(tmpdir(), 'weft-node-')));
    await mkdir(join(node.root, 'configmap'));
    for (const [key, value] of Object.entries(configData)) await writeFile(join(node.root, 'configmap', key), value);
    await mkdir(join(node.root, 'image', 'cni'), { recursive: true });
    return node;
  }

  /** The image's plugin executable; the image ships it gzip-compressed (/opt/weft/cni/weft.gz): runStep packs it. */
  get plugin(): string {
    return join(this.root, 'image', 'cni', 'weft');
  }

  host(path: string): string {
    return join(this.root, 'host', path);
  }

  /** Runs init container `name` as the manifest says, with its paths moved into this root. */
  runStep(name: string): { log: Array<{ level: number; msg: string; [key: string]: unknown }>; stderr: string } {
    const step = pod.initContainers.find((c) => c.name === name)!;
    expect(step.command[0]).toBe('weft-install-cni');
    const args = [...step.command.slice(1), ...step.args].map((arg) => this.localize(arg, step.volumeMounts));
    if (args.includes(`--plugin=${this.plugin}.gz`)) execFileSync('gzip', ['-1', '--no-name', '--keep', '--force', this.plugin]);
    const result = spawnSync(process.execPath, [INSTALLER, ...args], { encoding: 'utf8', timeout: 60_000 });
    expect(result.status, `${name}: ${result.stdout}${result.stderr}`).toBe(0);
    return {
      log: result.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
      stderr: result.stderr,
    };
  }

  private localize(arg: string, mounts: readonly Mount[]): string {
    for (const mount of mounts) {
      const volume = pod.volumes.find((v) => v.name === mount.name)!;
      const local = volume.hostPath ? this.host(volume.hostPath.path) : join(this.root, 'configmap');
      if (arg.includes(`=${mount.mountPath}`)) return arg.replace(`=${mount.mountPath}`, `=${local}`);
    }
    return arg.replace(`=${IMAGE_TREE}/`, `=${join(this.root, 'image')}/`);
  }
}

const STAND_IN = `process.stdout.write(JSON.stringify({ cniVersion: '1.1.0', supportedVersions: ${JSON.stringify(SUPPORTED)} }));\n`;

/** Builds the plugin executable into `outfile`; true when it is the real CNI plugin. */
async function buildPlugin(outfile: string): Promise<boolean> {
  try {
    await access(REAL_PLUGIN);
    await buildCniPlugin({ entry: REAL_PLUGIN, outfile });
    return true;
  } catch (error) {
    console.warn(`the CNI plugin is not built (${(error as Error).message}): installing a stand-in that answers VERSION`);
    await writeFile(`${outfile}.js`, STAND_IN);
    await buildCniPlugin({ entry: `${outfile}.js`, outfile });
    return false;
  }
}

/** Runs a CNI plugin's VERSION as a runtime does: env and stdin. */
function cniVersion(plugin: string, env: Record<string, string> = {}) {
  const result = spawnSync(plugin, [], {
    env: { CNI_COMMAND: 'VERSION', PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    input: '{"cniVersion":"1.1.0"}',
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(result.status, result.stderr).toBe(0);
  return { answer: JSON.parse(result.stdout) as { cniVersion: string; supportedVersions: string[] }, stderr: result.stderr };
}

/** The payload id whose libraries the plugin ran on, from the loader's own log (LD_DEBUG=libs). */
function payloadThatRan(launcher: string, binDir: string): string | undefined {
  const { stderr } = cniVersion(launcher, { LD_DEBUG: 'libs' });
  const prefix = join(binDir, 'weft.d');
  return [...stderr.matchAll(/calling init: (\S+)/g)]
    .map((m) => m[1]!)
    .find((path) => path.startsWith(prefix))
    ?.slice(prefix.length + 1)
    .split('/')[0];
}

async function findTemps(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.filter((name) => name.split('/').some((part) => part.startsWith('.weft-tmp-')));
}

// Each install copies and hashes a ~100 MB executable: give the steps room on a loaded 2-core CI machine.
describe('the init containers of deploy/weft.yml, run into a temp node root', { timeout: 90_000 }, () => {
  let node: NodeRoot;
  let binDir: string;
  let conflistPath: string;
  let realPlugin = false;
  beforeAll(async () => {
    node = await NodeRoot.create();
    realPlugin = await buildPlugin(node.plugin);
    binDir = node.host('/opt/cni/bin');
    conflistPath = node.host('/etc/cni/net.d/10-weft.conflist');
    await mkdir(binDir, { recursive: true });
    await mkdir(node.host('/etc/cni/net.d'), { recursive: true });
  }, 120_000); // building the executable (esbuild, SEA blob, postject) takes ~10 s on 2 cores
  afterAll(() => rm(node.root, { recursive: true, force: true }));

  it('installs launcher, payload and conflist, each by rename over the old file', async () => {
    await writeFile(join(binDir, 'weft'), '#!/bin/sh\necho old plugin\n', { mode: 0o755 });
    await writeFile(conflistPath, '{"old": true}');
    const [oldLauncher, oldConflist] = [await stat(join(binDir, 'weft')), await stat(conflistPath)];
    const readers = [await open(join(binDir, 'weft')), await open(conflistPath)];
    try {
      expect(node.runStep('install-cni-plugin').log[0]?.msg).toBe('installed the weft CNI plugin');
      expect(node.runStep('install-cni').log[0]?.msg).toBe('installed the CNI network configuration');
      // the old inodes are untouched (nothing was truncated or rewritten in place) ...
      expect((await readers[0]!.readFile()).toString()).toBe('#!/bin/sh\necho old plugin\n');
      expect((await readers[1]!.readFile()).toString()).toBe('{"old": true}');
    } finally {
      for (const reader of readers) await reader.close();
    }
    // ... and new ones took their names.
    const [launcher, conflist] = [await stat(join(binDir, 'weft')), await stat(conflistPath)];
    expect(launcher.ino).not.toBe(oldLauncher.ino);
    expect(conflist.ino).not.toBe(oldConflist.ino);
    expect(launcher.mode & 0o777).toBe(0o755);
    expect(conflist.mode & 0o777).toBe(0o644);
    expect(await readFile(conflistPath, 'utf8')).toBe(configData['cni-conf.json']);

    const [id] = await readdir(join(binDir, 'weft.d'));
    const payload = join(binDir, 'weft.d', id!);
    expect((await stat(join(payload, 'weft'))).mode & 0o777).toBe(0o755);
    expect((await readFile(join(payload, 'weft'))).equals(await readFile(node.plugin))).toBe(true);
    const libs = await readdir(join(payload, 'lib'));
    expect(libs).toEqual(expect.arrayContaining(['libc.so.6', 'libstdc++.so.6']));
    expect(libs.some((name) => name.startsWith('ld-linux'))).toBe(true);
    expect(await findTemps(node.root)).toEqual([]);
  });

  it('leaves a runnable plugin that uses only its own C libraries', () => {
    expect(cniVersion(join(binDir, 'weft')).answer.supportedVersions.length).toBeGreaterThan(0);
    // The loader's own account of what it loaded: once /bin/sh has exec'd the payload's loader, every
    // library it initialises comes from the payload, none from the host.
    const { stderr } = cniVersion(join(binDir, 'weft'), { LD_DEBUG: 'libs' });
    const inits = [...stderr.matchAll(/calling init: (\S+)/g)].map((m) => m[1]!);
    const first = inits.findIndex((path) => path.startsWith(join(binDir, 'weft.d')));
    expect(first).toBeGreaterThan(-1);
    expect(inits.slice(first).filter((path) => !path.startsWith(join(binDir, 'weft.d')))).toEqual([]);
    expect(inits.slice(first).some((path) => path.endsWith('/libstdc++.so.6'))).toBe(true);
  });

  it('changes nothing when run again', async () => {
    // the payload directory itself, not weft.d: unpacking the image's weft.gz makes (and removes) a temp file there
    const [id] = await readdir(join(binDir, 'weft.d'));
    const unchanged = [join(binDir, 'weft'), conflistPath, join(binDir, 'weft.d', id!), join(binDir, 'weft.d', id!, 'weft')];
    const before = await Promise.all(unchanged.map((p) => stat(p)));
    expect(node.runStep('install-cni-plugin').log[0]).toMatchObject({
      msg: 'the weft CNI plugin was already installed',
      payload: 'present',
    });
    expect(node.runStep('install-cni').log[0]?.msg).toBe('the CNI network configuration was already installed');
    const after = await Promise.all(unchanged.map((p) => stat(p)));
    expect(after.map((s) => [s.ino, s.mtimeMs])).toEqual(before.map((s) => [s.ino, s.mtimeMs]));
    expect(await readdir(join(binDir, 'weft.d'))).toHaveLength(1);
  });

  it('upgrades by switching the launcher, keeps the previous payload for plugins still starting, prunes older ones', async () => {
    const [v1] = await readdir(join(binDir, 'weft.d'));
    expect(payloadThatRan(join(binDir, 'weft'), binDir)).toBe(v1);
    await appendFile(node.plugin, '\n#weft-test-v2\n');
    const v2 = node.runStep('install-cni-plugin').log[0]?.payloadId as string;
    expect(v2).not.toBe(v1);
    expect((await readdir(join(binDir, 'weft.d'))).sort()).toEqual([v1, v2].sort());
    expect(payloadThatRan(join(binDir, 'weft'), binDir)).toBe(v2);

    await appendFile(node.plugin, '#weft-test-v3\n');
    const v3 = node.runStep('install-cni-plugin').log[0]?.payloadId as string;
    expect((await readdir(join(binDir, 'weft.d'))).sort()).toEqual([v2, v3].sort());
    expect(payloadThatRan(join(binDir, 'weft'), binDir)).toBe(v3);
  });

  it('removes what a crashed run left behind', async () => {
    await writeFile(join(binDir, '.weft-tmp-weft-0badf00d'), '#!/bin/sh\n');
    await mkdir(join(binDir, 'weft.d', '.weft-tmp-0123456789abcdef-999', 'lib'), { recursive: true });
    expect(node.runStep('install-cni-plugin').log[0]?.staleTemps).toHaveLength(2);
    expect(await findTemps(node.root)).toEqual([]);
  });

  it('warns when a chained plugin is missing or another config would win', () => {
    const warnings = node
      .runStep('install-cni')
      .log.filter((line) => line.level === 40)
      .map((line) => line.msg);
    expect(warnings.join('\n')).toMatch(/plugins of the chain are missing/); // no portmap in this root
  });

  it('answers CNI_COMMAND=VERSION as the weft CNI plugin, through the launcher', (context) => {
    if (!realPlugin) {
      console.warn(`${REAL_PLUGIN} is not built yet: the installed plugin's VERSION answer is not checked`);
      context.skip();
    }
    const { answer } = cniVersion(join(binDir, 'weft'));
    expect(answer.supportedVersions).toEqual(expect.arrayContaining(SUPPORTED));
    expect(answer.cniVersion).toBe('1.1.0');
  });
});
