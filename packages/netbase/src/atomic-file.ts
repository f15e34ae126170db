/**
 * Atomic files on the node: subnet.env, the CNI plugin and conflist, weftd's state.
 *
 * The container runtime may exec /opt/cni/bin/weft or read /etc/cni/net.d at any moment, also while an init
 * container is writing there. So nothing is ever written in place: bytes go to a temp name in the same directory
 * (same filesystem, so rename(2) is atomic), are fsynced, then renamed over the final name, and the directory is
 * fsynced so the rename survives a crash. A reader sees the old file or the new one, never half of one.
 * Temp names start with `.weft-tmp-` so a crashed run's leftovers are recognisable and removable.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, chmod, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export const TEMP_PREFIX = '.weft-tmp-';

/** A temp path beside `finalPath`, unique per call. */
export function tempPathFor(finalPath: string): string {
  return join(dirname(finalPath), `${TEMP_PREFIX}${basename(finalPath)}-${randomBytes(4).toString('hex')}`);
}

/** fsync a directory so that renames and creations inside it are durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `data` to `finalPath` through a temp file and rename. Returns false when the file already held `data`. */
export async function writeFileAtomic(finalPath: string, data: string | Uint8Array, mode: number): Promise<boolean> {
  const wanted = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
  if (await holdsBytes(finalPath, wanted, mode)) return false;
  const temp = tempPathFor(finalPath);
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(wanted);
      await handle.chmod(mode); // the umask may have narrowed the mode given to open
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, finalPath);
  } catch (error) {
    await rm(temp, { force: true });
    throw new Error(`cannot write ${finalPath}: ${(error as Error).message}`, { cause: error });
  }
  await syncDirectory(dirname(finalPath));
  return true;
}

/** Copies `source` into `destination` (a path inside a directory that is not yet visible), with `mode`, fsynced. */
export async function copyFileDurable(source: string, destination: string, mode: number): Promise<void> {
  await copyFile(source, destination, constants.COPYFILE_EXCL);
  await chmod(destination, mode);
  const handle = await open(destination, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Removes temp files and directories a crashed earlier run left in `dir`. Returns their names. */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  const stale = (await readdir(dir)).filter((name) => name.startsWith(TEMP_PREFIX));
  for (const name of stale) await rm(join(dir, name), { recursive: true, force: true });
  return stale;
}

async function holdsBytes(path: string, wanted: Buffer, mode: number): Promise<boolean> {
  try {
    const handle = await open(path, 'r');
    try {
      const stat = await handle.stat();
      if (!stat.isFile() || (stat.mode & 0o7777) !== mode || stat.size !== wanted.length) return false;
      return (await readFile(handle)).equals(wanted);
    } finally {
      await handle.close();
    }
  } catch {
    return false;
  }
}
