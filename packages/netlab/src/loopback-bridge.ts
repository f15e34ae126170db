/**
 * Reaching a server on the test process's loopback (the in-test Kubernetes API server) from inside node
 * namespaces, where it answers as 127.0.0.1:<nsPort> as an API server on the node would. Namespaces share the
 * filesystem but not the network, so: a unix socket in `dir` piped to 127.0.0.1:<port> here, and in each
 * namespace a small Node forwarder from 127.0.0.1:<nsPort> to that socket, owned by the lab.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Lab } from './lab.js';

const FORWARDER = `
const net = require('node:net');
net.createServer((c) => { const u = net.connect(process.argv[1]); c.pipe(u).pipe(c); u.on('error', () => c.destroy()); c.on('error', () => u.destroy()); })
  .listen(Number(process.argv[2]), '127.0.0.1', () => console.log('forwarding'));
`;

function pipeBothWays(a: Socket, b: Socket): void {
  a.pipe(b).pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
}

export class LoopbackBridge {
  private constructor(
    private readonly server: Server,
    readonly socketPath: string,
  ) {}

  /** Listens on `<dir>/<name>.sock`, piping each connection to 127.0.0.1:`port`. */
  static async open(dir: string, port: number, name = 'api'): Promise<LoopbackBridge> {
    const socketPath = join(dir, `${name}.sock`);
    const server = createServer((c) => pipeBothWays(c, createConnection(port, '127.0.0.1')));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    return new LoopbackBridge(server, socketPath);
  }

  /** Makes the server answer on 127.0.0.1:`nsPort` inside `ns` (the forwarder lives as long as the lab). */
  async into(lab: Lab, ns: string, nsPort = 6443): Promise<void> {
    const fwd = lab.spawn(ns, `forwarder-${ns}`, process.execPath, ['-e', FORWARDER, this.socketPath, String(nsPort)]);
    await fwd.waitFor(/forwarding/);
  }

  close(): void {
    this.server.close();
  }
}
