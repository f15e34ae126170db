/**
 * The plugin as the image stores it: gzip-compressed (`/opt/weft/cni/weft.gz`, 36 MB instead of 87 MB). It is
 * a Node.js single executable, a copy of the image's node binary plus the plugin: shipping it uncompressed would
 * put node into the image twice, and nothing runs it inside the image; only the node does, after installation.
 * So the installer unpacks it first, into a temp file beside the payloads (same filesystem, removed afterwards;
 * a crashed run's leftover is a `.weft-tmp-` name, removed by the next run). An uncompressed executable is taken
 * as it is. Either way the payload id is the hash of the executable's own bytes, so the same plugin gives the same
 * id however it was shipped.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { TEMP_PREFIX } from '@weft/netbase';

const GZIP_MAGIC = [0x1f, 0x8b];

export interface UnpackedPlugin {
  /** The executable to install. */
  path: string;
  /** Removes what unpacking made (nothing for an uncompressed plugin). */
  release(): Promise<void>;
}

export async function isGzip(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  } finally {
    await handle.close();
  }
}

/** `plugin` itself, or its gzip content unpacked into `scratchDir`. */
export async function unpackPlugin(plugin: string, scratchDir: string): Promise<UnpackedPlugin> {
  if (!(await isGzip(plugin))) return { path: plugin, release: async () => {} };
  const path = join(scratchDir, `${TEMP_PREFIX}plugin-${process.pid}`);
  const release = () => rm(path, { force: true });
  try {
    await pipeline(createReadStream(plugin), createGunzip(), createWriteStream(path, { mode: 0o700 }));
  } catch (error) {
    await release();
    throw new Error(`cannot unpack the plugin ${plugin} (gzip): ${(error as Error).message}`, { cause: error });
  }
  return { path, release };
}
