/**
 * tcp-hash: moves N bytes over TCP and prints the SHA-256 of what was sent and of what arrived, so a
 * test can prove a transfer crossed the overlay byte for byte.
 *
 *   node tcp-hash.js server <bind-ip> <port>          prints `listening`, then `received <bytes> <sha256>`
 *   node tcp-hash.js client <ip> <port> <bytes> [seed] prints `sent <bytes> <sha256>`
 *
 * The client's data is a seeded xorshift stream (different every block, so a dropped or repeated
 * segment changes the hash).
 */
import { createHash } from 'node:crypto';
import { connect, createServer } from 'node:net';

function server(bindIp: string, port: number): void {
  const srv = createServer((sock) => {
    const h = createHash('sha256');
    let n = 0;
    sock.on('data', (d: Buffer) => {
      h.update(d);
      n += d.length;
    });
    sock.on('end', () => {
      process.stdout.write(`received ${n} ${h.digest('hex')}\n`);
      sock.end();
      srv.close();
    });
  });
  srv.listen(port, bindIp, () => process.stdout.write('listening\n'));
}

function client(ip: string, port: number, total: number, seed: number): void {
  const block = Buffer.alloc(1 << 16);
  const words = new Uint32Array(block.buffer, block.byteOffset, block.length / 4);
  let x = seed >>> 0 || 1;
  const h = createHash('sha256');
  let sent = 0;
  const sock = connect({ host: ip, port }, () => pump());
  const pump = (): void => {
    while (sent < total) {
      for (let i = 0; i < words.length; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        words[i] = x >>> 0;
      }
      const chunk = block.subarray(0, Math.min(block.length, total - sent));
      h.update(chunk);
      sent += chunk.length;
      if (!sock.write(Buffer.from(chunk))) {
        sock.once('drain', pump);
        return;
      }
    }
    sock.end();
    process.stdout.write(`sent ${sent} ${h.digest('hex')}\n`);
  };
  sock.on('error', (e) => {
    process.stderr.write(`tcp-hash client: ${e.message}\n`);
    process.exit(1);
  });
}

const [mode, a, b, c, d] = process.argv.slice(2);
if (mode === 'server' && a && b) server(a, Number(b));
else if (mode === 'client' && a && b && c) client(a, Number(b), Number(c), Number(d ?? 1));
else {
  process.stderr.write('usage: tcp-hash server <bind-ip> <port> | client <ip> <port> <bytes> [seed]\n');
  process.exit(2);
}
