/**
 * The plugin payload: the plugin executable and its C libraries, as one immutable directory on the node.
 *
 * Layout under the CNI bin dir: `weft.d/<id>/{weft, lib/*, payload.json}`, where <id> is a hash of every
 * file's name, mode and bytes. A payload directory is built under a temp name and renamed into place in one step,
 * and never changed afterwards; the launcher (`weft`) names the id it runs, and replacing the launcher is the
 * single atomic switch between versions. A plugin started a moment before an upgrade still finds its own payload:
 * we keep the previous one and prune only older ones.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TEMP_PREFIX, copyFileDurable, syncDirectory } from '@weft/netbase';
import type { ProgramRuntime } from './shared-libraries.js';

export const PAYLOAD_DIR = 'weft.d';
export const EXECUTABLE_NAME = 'weft';

export interface PayloadFile {
  /** Where the file comes from (in the image). */
  source: string;
  /** Its path inside the payload directory. */
  name: string;
  mode: number;
}

export interface PayloadPlan {
  id: string;
  files: PayloadFile[];
  runtime: ProgramRuntime;
}

/** The files of a payload: the executable as `weft`, the loader and each library as `lib/<name>`. */
export function payloadFiles(runtime: ProgramRuntime): PayloadFile[] {
  return [
    { source: runtime.executable, name: EXECUTABLE_NAME, mode: 0o755 },
    { source: runtime.loader.path, name: `lib/${runtime.loader.name}`, mode: 0o755 },
    ...runtime.libraries.map((library) => ({ source: library.path, name: `lib/${library.name}`, mode: 0o755 })),
  ];
}

/** Content id of a payload: sha256 over names, modes and bytes, 16 hex digits. */
export async function payloadId(files: readonly PayloadFile[]): Promise<string> {
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(`${file.name}\0${file.mode.toString(8)}\0`);
    for await (const chunk of createReadStream(file.source)) hash.update(chunk as Buffer);
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

export async function planPayload(runtime: ProgramRuntime): Promise<PayloadPlan> {
  const files = payloadFiles(runtime);
  return { id: await payloadId(files), files, runtime };
}

/** Puts the payload under `<payloadRoot>/<id>` unless it is already there. */
export async function placePayload(payloadRoot: string, plan: PayloadPlan): Promise<'created' | 'present'> {
  const final = join(payloadRoot, plan.id);
  if (await isDirectory(final)) return 'present';
  const temp = join(payloadRoot, `${TEMP_PREFIX}${plan.id}-${process.pid}`);
  await rm(temp, { recursive: true, force: true });
  try {
    await mkdir(join(temp, 'lib'), { recursive: true });
    for (const file of plan.files) await copyFileDurable(file.source, join(temp, file.name), file.mode);
    await writeFile(join(temp, 'payload.json'), describePayload(plan), { mode: 0o644 });
    await syncDirectory(join(temp, 'lib'));
    await syncDirectory(temp);
    await rename(temp, final);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    // Another installer renamed the same content into place first: that is our payload too.
    if (await isDirectory(final)) return 'present';
    throw new Error(`cannot place the plugin payload in ${final}: ${(error as Error).message}`, { cause: error });
  }
  await syncDirectory(payloadRoot);
  return 'created';
}

/** Removes payload directories other than `keep`; returns the removed ids. */
export async function prunePayloads(payloadRoot: string, keep: ReadonlySet<string>): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(payloadRoot)) {
    if (keep.has(name) || name.startsWith(TEMP_PREFIX)) continue;
    await rm(join(payloadRoot, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function describePayload(plan: PayloadPlan): string {
  const manifest = {
    id: plan.id,
    loader: plan.runtime.loader.name,
    files: plan.files.map((file) => ({ name: file.name, source: file.source })),
  };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
