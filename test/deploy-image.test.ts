/**
 * The Dockerfile's structure and its build stage's script, fast and without root (test/image.image.test.ts builds
 * the real image with buildah and runs it). Correct by construction: dockerfile-utils (the VS Code Docker
 * extension's validator) finds no problem, and the structure holds (non-root build, pinned pnpm, the public base
 * images by default, root-owned copies into the runtime, paths that exist, a .dockerignore that keeps host builds
 * out). The build stage's real work is deploy/build-image-tree.sh, and here it runs against this checkout; the tree
 * it makes is what the runtime stage copies, so we check that tree: production files and dependencies only, every
 * bin runs from it, the CNI plugin executable (gzip-compressed) answers VERSION. A failing command shows its stdout and stderr
 * (pnpm writes its errors on stdout).
 */
import { execFile, spawnSync, type ExecFileException } from 'node:child_process';
import { access, constants, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { Copy, DockerfileParser, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { afterAll, describe, expect, it } from 'vitest';

/** execFile that rejects with the command, its exit and both of its outputs. */
async function run(file: string, argv: string[], options: { cwd?: string; timeout: number }): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(file, argv, { ...options, maxBuffer: 64 << 20 }).catch(
    (error: ExecFileException & { stdout?: string; stderr?: string }) => {
      const exit = error.signal ? `signal ${error.signal}` : `exit ${String(error.code)}`;
      throw new Error(`${file} ${argv.join(' ')} failed (${exit})\n--- stdout\n${error.stdout ?? ''}\n--- stderr\n${error.stderr ?? ''}`);
    },
  );
}
const ROOT = join(import.meta.dirname, '..');
const DOCKERFILE = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
const dockerfile = DockerfileParser.parse(DOCKERFILE);
const [build, runtime] = dockerfile.getFROMs();
const instructionsOf = (stage: string) => {
  const from = dockerfile.getFROMs().find((f) => f.getBuildStage() === stage);
  const all = dockerfile.getInstructions();
  const start = all.findIndex((i) => i === from);
  const end = all.findIndex((i, n) => n > start && i.getKeyword() === 'FROM');
  return all.slice(start + 1, end === -1 ? undefined : end);
};
const args = (i: Instruction) => i.getArguments().map((a) => a.getValue());
const runsText = (stage: string) =>
  instructionsOf(stage)
    .filter((i) => i.getKeyword() === 'RUN')
    .map((i) => i.getRawArgumentsContent() ?? '');

describe('Dockerfile', () => {
  it('has no problem the Docker language validator knows of', () => {
    expect(validate(DOCKERFILE)).toEqual([]);
    // and the validator does catch a broken one
    expect(validate('FROM node:20-bookworm-slim\nCOPY --chwn=node . .\n').length).toBeGreaterThan(0);
  });

  it('builds on Node 20 Debian slim and ships a runtime on the Debian slim that image is made from', () => {
    expect(dockerfile.getFROMs().map((f) => f.getBuildStage())).toEqual(['build', 'runtime']);
    const initial = (name: string) =>
      dockerfile
        .getInitialARGs()
        .find((a) => a.getProperty()?.getName() === name)
        ?.getProperty()
        ?.getValue();
    expect(initial('NODE_IMAGE')).toMatch(/^node:20(\.\d+)*-(bookworm)-slim$/);
    expect(initial('DEBIAN_IMAGE')).toBe('debian:bookworm-slim');
    expect(build?.getImage()).toBe('${NODE_IMAGE}');
    expect(runtime?.getImage()).toBe('${DEBIAN_IMAGE}');
  });

  it('runs pnpm only as an unprivileged user, with the pnpm of package.json', async () => {
    const steps = instructionsOf('build');
    const user = steps.findIndex((i) => i.getKeyword() === 'USER');
    expect(user).toBeGreaterThan(-1);
    expect(args(steps[user]!)[0]).not.toMatch(/^(root|0)(:|$)/);
    steps.forEach((step, n) => {
      if (
        step.getKeyword() === 'RUN' &&
        /\bpnpm\s/.test(step.getRawArgumentsContent() ?? '') &&
        !/install --global/.test(step.getRawArgumentsContent() ?? '')
      ) {
        expect(n, `${step.getRawArgumentsContent()} runs as root`).toBeGreaterThan(user);
      }
    });
    const pnpmArg = steps.find((i) => i.getKeyword() === 'ARG' && args(i)[0]?.startsWith('PNPM_VERSION='));
    const { packageManager } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { packageManager: string };
    expect(`pnpm@${args(pnpmArg!)[0]?.split('=')[1]}`).toBe(packageManager.split('+')[0]);
    expect(runsText('build').join('\n')).toMatch(/pnpm install --offline --frozen-lockfile/);
  });

  it('gives the runtime iproute2, iptables and nftables, node, and the assembled tree on PATH, all owned by root', () => {
    const apt = runsText('runtime').find((r) => r.includes('apt-get install')) ?? '';
    for (const pkg of ['iproute2', 'iptables', 'nftables']) expect(apt).toMatch(new RegExp(`\\b${pkg}\\b`));
    expect(apt).toMatch(/--no-install-recommends/);
    const copies = instructionsOf('runtime').filter((i): i is Copy => i instanceof Copy);
    expect(copies.map((copy) => args(copy).filter((a) => !a.startsWith('--')))).toEqual([
      ['/home/node/node/node', '/usr/local/bin/node'],
      ['/home/node/image', '/opt/weft'],
    ]);
    // (getFromFlag() misses --from when another flag follows it: read the flags themselves)
    for (const copy of copies)
      expect(Object.fromEntries(copy.getFlags().map((f) => [f.getName(), f.getValue()]))).toEqual({ from: 'build', chown: '0:0' });
    expect(runsText('build')).toContain('PATH=/home/node/node:$PATH sh deploy/build-image-tree.sh /home/node/image');
    const env = instructionsOf('runtime').find((i) => i.getKeyword() === 'ENV');
    expect(env?.getRawArgumentsContent()).toMatch(/PATH=\/opt\/weft\/bin:\$PATH/);
  });

  it('copies only files that exist, and keeps host builds out of the context', async () => {
    for (const copy of instructionsOf('build').filter((i) => i.getKeyword() === 'COPY')) {
      const sources = args(copy)
        .filter((a) => !a.startsWith('--'))
        .slice(0, -1);
      for (const source of sources) await expect(access(join(ROOT, source)), source).resolves.toBeUndefined();
    }
    const ignored = (await readFile(join(ROOT, '.dockerignore'), 'utf8')).split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['**/node_modules', '**/dist', '**/*.tsbuildinfo', '.git']));
  });
});

describe('deploy/build-image-tree.sh (the build stage, run here)', () => {
  let scratch: string | undefined;
  afterAll(() => (scratch ? rm(scratch, { recursive: true, force: true }) : undefined));

  const cniEntry = join(ROOT, 'packages/cni-shim/bin/weft');
  it('assembles production-only packages whose bins run, and the CNI plugin executable', async (context) => {
    if (!(await exists(cniEntry))) {
      console.warn(`${cniEntry} is not there yet (the CNI plugin): the image tree cannot be assembled; skipped`);
      context.skip();
    }
    scratch = await mkdtemp(join(tmpdir(), 'weft-image-'));
    const out = join(scratch, 'image');
    await run('sh', [join(ROOT, 'deploy/build-image-tree.sh'), out], { cwd: ROOT, timeout: 180_000 });

    const shipped = await listTree(out);
    expect(
      shipped.filter((path) => /\.(d\.[cm]?ts|map|[cm]?ts)$/.test(path)),
      'type declarations, maps, TypeScript',
    ).toEqual([]);
    expect(
      shipped.filter((path) => /^(control|installer)\/(src|test)\//.test(path) || path.includes('/@types/')),
      'sources, tests, @types',
    ).toEqual([]);
    expect(
      shipped.filter((path) => /build-cli|plugin-build|weft-build-cni/.test(path)),
      'the build-time plugin builder',
    ).toEqual([]);

    for (const pkg of ['control', 'installer']) {
      const source = JSON.parse(await readFile(join(ROOT, 'packages', pkg, 'package.json'), 'utf8')) as {
        dependencies?: object;
        devDependencies?: object;
      };
      const installed = await readdir(join(out, pkg, 'node_modules', '.pnpm'));
      for (const dev of ['typescript', 'vitest', 'esbuild', ...Object.keys(source.devDependencies ?? {})]) {
        expect(
          installed.filter((name) => name.startsWith(`${dev.replace('/', '+')}@`)),
          `${pkg} ships ${dev}`,
        ).toEqual([]);
      }
      for (const dep of Object.keys(source.dependencies ?? {}))
        await expect(access(join(out, pkg, 'node_modules', dep)), dep).resolves.toBeUndefined();
    }

    const bins = await readdir(join(out, 'bin'));
    expect(bins).toEqual(expect.arrayContaining(['weftd', 'weft-install-cni']));
    for (const bin of ['weftd', 'weft-install-cni']) {
      const { stdout } = await run(join(out, 'bin', bin), ['--help'], { timeout: 30_000 });
      expect(stdout, bin).toMatch(/usage/i);
    }

    // the image ships the plugin gzip-compressed; the installer unpacks it on the node
    await run(
      'sh',
      ['-c', `gzip -dc "${join(out, 'cni', 'weft.gz')}" >"${join(scratch, 'weft')}" && chmod 755 "${join(scratch, 'weft')}"`],
      { timeout: 60_000 },
    );
    const version = spawnSync(join(scratch, 'weft'), [], {
      env: { CNI_COMMAND: 'VERSION' },
      input: '{"cniVersion":"1.0.0"}',
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(JSON.parse(version.stdout), version.stderr).toMatchObject({ supportedVersions: expect.arrayContaining(['1.0.0']) });
  }, 240_000);
});

/** Every file and link under `dir`, relative to it (node_modules' links not followed). */
async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => !e.isDirectory()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

async function exists(path: string): Promise<boolean> {
  return access(path, constants.F_OK).then(
    () => true,
    () => false,
  );
}
