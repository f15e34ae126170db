/**
 * The Node.js runtime the CNI plugin will run on: the image's node binary and the C libraries it loads.
 *
 * The node host has no Node.js, and its C library may be older than the image's, or musl, or missing libstdc++.
 * So the plugin relies on nothing of the host: we copy node together with every shared library it needs, glibc's
 * dynamic loader included, and the launcher runs `ld-linux-*.so.* --library-path <lib> node`.
 * The loader is the one running this very process (from /proc/self/maps); it then lists node's dependencies itself
 * (`ld.so --list`, what ldd does), each under the name node asks for (libstdc++.so.6, not the file it points to,
 * libstdc++.so.6.0.30), since that name is what the loader looks up in --library-path.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { promisify } from 'node:util';

export interface SharedLibrary {
  /** The name the loader looks up (DT_NEEDED), e.g. libstdc++.so.6. */
  name: string;
  /** Where it is in the image. */
  path: string;
}

export interface NodeRuntime {
  /** The node binary (absolute path). */
  node: string;
  /** glibc's dynamic loader: name ld-linux-x86-64.so.2 (node's PT_INTERP), path where it is in the image. */
  loader: SharedLibrary;
  /** The libraries node loads, the loader excluded. */
  libraries: SharedLibrary[];
  /** process.version of that node, recorded in the payload for operators. */
  version: string;
}

const GLIBC_LOADER = /^ld-linux[\w.-]*\.so\.\d+$/;

/** glibc's loader among the files mapped into a process (a /proc/<pid>/maps text), if any. */
export function loaderFromMaps(mapsText: string): string | undefined {
  for (const line of mapsText.split('\n')) {
    // address perms offset dev inode pathname (the pathname may hold spaces)
    const path = line.trim().split(/\s+/).slice(5).join(' ');
    if (path.startsWith('/') && GLIBC_LOADER.test(basename(path))) return path;
  }
  return undefined;
}

/**
 * Parses `ld.so --list <binary>`: `name => path (addr)` per library. The loader appears as its PT_INTERP path,
 * either `/lib64/ld-linux-x86-64.so.2 => /usr/lib/.../ld-linux-x86-64.so.2 (addr)` (run as a program) or bare
 * `/lib64/ld-linux-x86-64.so.2 (addr)` (through ldd); linux-vdso.so.1 has no path and lives in the kernel.
 */
export function parseLoaderList(text: string): { libraries: SharedLibrary[]; loader: SharedLibrary | undefined } {
  const libraries: SharedLibrary[] = [];
  let loader: SharedLibrary | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const resolved = /^(\S+) => (.+?)(?: \(0x[0-9a-f]+\))?$/.exec(line);
    const bare = /^(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    const [, name = '', path = ''] = resolved ?? bare?.concat(bare[1] ?? '') ?? [];
    if (name === '') continue;
    if (!path.startsWith('/')) throw new Error(`node needs ${name}, which the image's loader cannot find (${path})`);
    if (name.startsWith('/')) loader = { name: basename(name), path };
    else libraries.push({ name, path });
  }
  return { libraries, loader };
}

/** The runtime this very process runs on. */
export async function currentNodeRuntime(): Promise<NodeRuntime> {
  const node = process.execPath;
  const running = loaderFromMaps(await readFile('/proc/self/maps', 'utf8'));
  if (running === undefined) {
    throw new Error(`node at ${node} was not started by glibc's dynamic loader: weft ships the plugin with a glibc-linked node only`);
  }
  const { stdout } = await promisify(execFile)(running, ['--list', node]).catch((error: Error) => {
    throw new Error(`cannot list the libraries of ${node} with ${running} --list: ${error.message}`);
  });
  const { libraries, loader } = parseLoaderList(stdout);
  return { node, loader: loader ?? { name: basename(running), path: running }, libraries, version: process.version };
}
