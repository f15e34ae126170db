/**
 * The C libraries the plugin executable needs, so that they can travel with it.
 *
 * The node host has no Node.js, and its C library may be older than the image's, or musl, or missing libstdc++.
 * So the plugin relies on nothing of the host: we copy the executable together with every shared library it
 * needs, glibc's dynamic loader included, and the launcher runs `ld-linux-*.so.* --library-path <lib> weft`.
 * The loader is the one running this very process (from /proc/self/maps); it lists the executable's
 * dependencies itself (`ld.so --list`, what ldd does), each under the name the executable asks for
 * (libstdc++.so.6, not the file it points to, libstdc++.so.6.0.30): that name is what --library-path is searched for.
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

export interface ProgramRuntime {
  /** The executable (absolute path). */
  executable: string;
  /** glibc's dynamic loader: name ld-linux-x86-64.so.2 (the executable's PT_INTERP), path where it is in the image. */
  loader: SharedLibrary;
  /** The libraries it loads, the loader excluded. */
  libraries: SharedLibrary[];
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
    if (!path.startsWith('/')) throw new Error(`the plugin needs ${name}, which the image's loader cannot find (${path})`);
    if (name.startsWith('/')) loader = { name: basename(name), path };
    else libraries.push({ name, path });
  }
  return { libraries, loader };
}

/** What `executable` needs to run, as this process's loader resolves it. */
export async function programRuntime(executable: string): Promise<ProgramRuntime> {
  const running = loaderFromMaps(await readFile('/proc/self/maps', 'utf8'));
  if (running === undefined) {
    throw new Error(`${process.execPath} was not started by glibc's dynamic loader: the plugin can only be shipped from a glibc image`);
  }
  const { stdout } = await promisify(execFile)(running, ['--list', executable]).catch((error: Error) => {
    throw new Error(`cannot list the libraries of ${executable} with ${running} --list: ${error.message}`);
  });
  const { libraries, loader } = parseLoaderList(stdout);
  if (loader === undefined) throw new Error(`${executable} names no dynamic loader: is it a dynamically linked glibc program?`);
  return { executable, loader, libraries };
}
