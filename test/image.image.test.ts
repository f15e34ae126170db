/**
 * The weft image, built for real from the Dockerfile and run with podman (project `image`, root only).
 *
 * `pnpm image` builds it with buildah: first the stand-ins of the two base images (from nothing on a fresh
 * machine: mmdebstrap, Node from npm), then the Dockerfile; with buildah's layer cache a second run only checks.
 * Then the image is run as a node would run it: `weftd --version`, `weftctl --version`, the tools weftd calls, who
 * owns what ships; and the DaemonSet's init containers of deploy/weft.yml, image command, args, mounts and
 * securityContext taken from the manifest, install the plugin and conflist into a temp host root. The plugin they
 * installed then runs on this host, outside any container, and answers CNI VERSION.
 * Every container runs with --network none: nothing is configured in the root namespace.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadManifests } from './lib/kube-manifests.js';
import { podmanRun, runCommand, WEFT_IMAGE } from './lib/podman.js';

const ROOT = join(import.meta.dirname, '..');
const SIZE_LIMIT = 300e6;

interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}
interface Container {
  name: string;
  image: string;
  command: string[];
  args: string[];
  volumeMounts: VolumeMount[];
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
}
interface Volume {
  name: string;
  hostPath?: { path: string };
  configMap?: { name: string };
}

const objects = await loadManifests(join(ROOT, 'deploy/weft.yml'));
const podSpec = (
  objects.find((o) => o.kind === 'DaemonSet') as unknown as {
    spec: { template: { spec: { initContainers: Container[]; volumes: Volume[] } } };
  }
).spec.template.spec;
const configData = (objects.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> }).data;

/** podman flags for a container of the manifest: its mounts moved under `root`, its securityContext as podman's. */
function containerFlags(container: Container, root: string): string[] {
  const flags: string[] = [];
  for (const mount of container.volumeMounts) {
    const volume = podSpec.volumes.find((v) => v.name === mount.name)!;
    const source = volume.hostPath ? join(root, 'host', volume.hostPath.path) : join(root, 'configmap', volume.name);
    flags.push('--volume', `${source}:${mount.mountPath}${mount.readOnly ? ':ro' : ''}`);
  }
  const security = container.securityContext ?? {};
  if (security.readOnlyRootFilesystem) flags.push('--read-only');
  if (security.allowPrivilegeEscalation === false) flags.push('--security-opt', 'no-new-privileges');
  for (const cap of security.capabilities?.drop ?? []) flags.push(`--cap-drop=${cap}`);
  for (const cap of security.capabilities?.add ?? []) flags.push(`--cap-add=${cap}`);
  return [...flags, '--entrypoint', container.command[0]!];
}

describe(`the image ${WEFT_IMAGE}, built with buildah from the Dockerfile`, () => {
  let buildLog = '';
  beforeAll(async () => {
    // From nothing this is ~5 min on an idle 2-core machine (base images, apt, pnpm fetch, node-gyp, tsc).
    buildLog = (await runCommand('sh', [join(ROOT, 'scripts/image.sh')], 40 * 60_000)).stdout;
  }, 40 * 60_000);

  it('is built and its size is reported, at most 300 MB', async () => {
    expect(buildLog).toMatch(new RegExp(`image: ${WEFT_IMAGE} is [\\d.]+ MB`));
    const { stdout } = await runCommand('podman', ['image', 'inspect', '--format', '{{.Size}}', WEFT_IMAGE], 60_000);
    const bytes = Number(stdout.trim());
    console.info(`${WEFT_IMAGE}: ${(bytes / 1e6).toFixed(1)} MB`);
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(SIZE_LIMIT);
  });

  it('runs weftd --version and weftctl --version', async () => {
    const version = (JSON.parse(await readFile(join(ROOT, 'packages/control/package.json'), 'utf8')) as { version: string }).version;
    expect((await podmanRun(['--network', 'none'], ['weftd', '--version'])).stdout).toBe(`weftd ${version}\n`);
    expect((await podmanRun(['--network', 'none'], ['weftctl', '--version'])).stdout).toBe(`weftctl ${version}\n`);
  });

  it('has the tools weftd runs, and no npm, corepack or Node headers', async () => {
    const { stdout } = await podmanRun(
      ['--network', 'none'],
      ['sh', '-c', 'ip -V && iptables --version && nft --version && node --version'],
    );
    expect(stdout).toMatch(/iproute2/);
    expect(stdout).toMatch(/iptables v1\.8/);
    expect(stdout).toMatch(/nftables v1/);
    expect(stdout).toMatch(/^v20\./m);
    const absent = await podmanRun(
      ['--network', 'none'],
      [
        'sh',
        '-c',
        'for p in /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/corepack /usr/local/include/node; do [ -e "$p" ] && echo "$p"; done; true',
      ],
    );
    expect(absent.stdout).toBe('');
  });

  it('ships /opt/weft and node owned by root, none of it writable by others', async () => {
    const { stdout } = await podmanRun(
      ['--network', 'none'],
      [
        'find',
        '/opt/weft',
        '/usr/local/bin/node',
        '(',
        '!',
        '-uid',
        '0',
        '-o',
        '!',
        '-gid',
        '0',
        '-o',
        '-perm',
        '-o+w',
        ')',
        '!',
        '-type',
        'l',
      ],
    );
    expect(stdout).toBe('');
  });

  describe('the init containers of deploy/weft.yml, run with podman into a temp host root', () => {
    let root: string;
    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), 'weft-image-node-'));
      await mkdir(join(root, 'configmap', 'weft-cfg'), { recursive: true });
      for (const [key, value] of Object.entries(configData)) await writeFile(join(root, 'configmap', 'weft-cfg', key), value);
      for (const volume of podSpec.volumes) if (volume.hostPath) await mkdir(join(root, 'host', volume.hostPath.path), { recursive: true });
    });
    afterAll(() => (root ? rm(root, { recursive: true, force: true }) : undefined));

    it('installs the plugin and the conflist; the installed plugin answers VERSION on the host', async () => {
      expect(podSpec.initContainers.map((c) => c.name)).toEqual(['install-cni-plugin', 'install-cni']);
      for (const container of podSpec.initContainers) {
        const { stdout } = await podmanRun(
          ['--network', 'none', ...containerFlags(container, root)],
          [...container.command.slice(1), ...container.args],
          300_000,
        );
        const log = stdout
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as { level: number; msg: string });
        expect(
          log.filter((entry) => entry.level >= 50),
          `${container.name}: ${stdout}`,
        ).toEqual([]);
      }
      const conflist = await readFile(join(root, 'host/etc/cni/net.d/10-weft.conflist'), 'utf8');
      expect(JSON.parse(conflist)).toEqual(JSON.parse(configData['cni-conf.json']!));

      // as a runtime runs it: nothing of this process's environment but PATH, the config on stdin
      const version = spawnSync(join(root, 'host/opt/cni/bin/weft'), [], {
        env: { CNI_COMMAND: 'VERSION', PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
        input: '{"cniVersion":"1.0.0"}',
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(version.status, `the installed plugin: ${version.stdout}${version.stderr}`).toBe(0);
      expect(JSON.parse(version.stdout)).toMatchObject({ supportedVersions: expect.arrayContaining(['0.3.1', '1.0.0']) });
    }, 600_000);
  });
});
