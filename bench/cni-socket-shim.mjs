#!/usr/bin/env node
// The "thin shim" alternative to bin/weft, for cni-bench.mjs only: forward the invocation (CNI_*
// environment + stdin) to a long-running process over a unix socket, print its answer, exit with its
// code. Imports node:net and node:fs only, so its start-up is as small as a Node plugin can be.
import { readFileSync, writeSync } from 'node:fs';
import { connect } from 'node:net';

const socketPath = process.env.WEFT_CNI_SOCKET ?? '/run/weft/cni.sock';
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('CNI_')));
const request = JSON.stringify({ env, stdin: readFileSync(0, 'utf8') }) + '\n';

let reply = '';
const sock = connect(socketPath, () => sock.end(request));
sock.setEncoding('utf8').on('data', (d) => (reply += d));
sock.on('error', (e) => {
  writeSync(1, JSON.stringify({ cniVersion: '1.1.0', code: 11, msg: `weft daemon socket ${socketPath}: ${e.message}` }) + '\n');
  process.exitCode = 1;
});
sock.on('close', () => {
  if (!reply) return;
  const { code, stdout, stderr } = JSON.parse(reply);
  if (stderr) writeSync(2, stderr);
  writeSync(1, stdout);
  process.exitCode = code;
});
