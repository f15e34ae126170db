/**
 * The plugin process: wires the real environment and stdio into the skeleton and exits with its code.
 * This is the whole import graph of `bin/weft`: node: builtins and this package's modules, nothing
 * else, compiled to CommonJS (start-up time is the budget; see README).
 */
import { readFileSync, writeSync } from 'node:fs';
import { ABOUT } from './cni-spec.js';
import { pluginMain, type PluginFuncs, type PluginIO } from './skel.js';

/** The verbs, loaded on first use: VERSION needs none of their modules. */
const load = (): PluginFuncs => (require('./weft-plugin.js') as typeof import('./weft-plugin.js')).weftPlugin;
const verbs: PluginFuncs = {
  add: (a) => load().add(a),
  del: (a) => load().del(a),
  check: (a) => load().check(a),
  gc: (a) => load().gc(a),
  status: (a) => load().status(a),
};

/** All of stdin. Read synchronously: touching process.stdin would build a stream (~2 ms). */
async function readStdin(): Promise<string> {
  try {
    return readFileSync(0, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return '';
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
}

function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length;) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    }
  }
}

const io: PluginIO = {
  env: process.env,
  readStdin,
  writeStdout: (t) => writeAll(1, t),
  writeStderr: (t) => writeAll(2, t),
};

// Output is written synchronously, so exiting at once skips nothing but the event loop's wind-down.
void pluginMain(verbs, io, ABOUT).then((code) => process.exit(code));
