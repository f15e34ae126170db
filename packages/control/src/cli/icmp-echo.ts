/**
 * ICMP echo through `raw-socket` (the original design's choice; Node cannot send ICMP by itself).
 * Used by `weftctl probe` to ask "does the underlay reach this node at all?" and "does the overlay?".
 * Needs CAP_NET_RAW (root, or weftd's DaemonSet capabilities). Replies are matched by source address,
 * identifier and sequence; the IPv4 header that raw sockets deliver is skipped by its IHL.
 */
import { createRequire } from 'node:module';

interface RawSocket {
  on(ev: 'message', fn: (buf: Buffer, source: string) => void): void;
  on(ev: 'error', fn: (e: Error) => void): void;
  send(buf: Buffer, off: number, len: number, addr: string, cb: (err: Error | null) => void): void;
  close(): void;
}
interface RawSocketModule {
  createSocket(opts: { protocol: number }): RawSocket;
  Protocol: { ICMP: number };
  createChecksum(buf: Buffer): number;
  writeChecksum(buf: Buffer, offset: number, sum: number): void;
}

const raw = createRequire(import.meta.url)('raw-socket') as RawSocketModule;

export interface EchoResult {
  target: string;
  sent: number;
  received: number;
  /** Round-trip times of the replies, ms. */
  rttMs: number[];
  error?: string;
}

function echoRequest(id: number, seq: number): Buffer {
  const b = Buffer.alloc(8 + 16);
  b[0] = 8; // echo request
  b.writeUInt16BE(id, 4);
  b.writeUInt16BE(seq, 6);
  b.write('weftctl probe ..', 8, 'latin1');
  raw.writeChecksum(b, 2, raw.createChecksum(b));
  return b;
}

/** Sends `count` echo requests `intervalMs` apart; resolves `timeoutMs` after the last. */
export function icmpEcho(target: string, opts: { count?: number; intervalMs?: number; timeoutMs?: number } = {}): Promise<EchoResult> {
  const count = opts.count ?? 3;
  const interval = opts.intervalMs ?? 200;
  const timeout = opts.timeoutMs ?? 1000;
  const id = (process.pid ^ Math.floor(Math.random() * 0xffff)) & 0xffff;
  const result: EchoResult = { target, sent: 0, received: 0, rttMs: [] };
  return new Promise((resolve) => {
    let sock: RawSocket;
    try {
      sock = raw.createSocket({ protocol: raw.Protocol.ICMP });
    } catch (e) {
      resolve({ ...result, error: `cannot open an ICMP raw socket (needs CAP_NET_RAW): ${(e as Error).message}` });
      return;
    }
    const sentAt = new Map<number, number>();
    sock.on('message', (buf, source) => {
      if (source !== target || buf.length < 20) return;
      const ihl = (buf[0] & 0x0f) * 4;
      if (buf.length < ihl + 8 || buf[ihl] !== 0 || buf.readUInt16BE(ihl + 4) !== id) return;
      const t = sentAt.get(buf.readUInt16BE(ihl + 6));
      if (t === undefined) return;
      sentAt.delete(buf.readUInt16BE(ihl + 6));
      result.received++;
      result.rttMs.push(Number(process.hrtime.bigint() - BigInt(t)) / 1e6);
    });
    sock.on('error', (e) => (result.error = e.message));
    let seq = 0;
    const sendOne = (): void => {
      const s = ++seq;
      const pkt = echoRequest(id, s);
      sentAt.set(s, Number(process.hrtime.bigint()));
      sock.send(pkt, 0, pkt.length, target, (err) => {
        if (err) result.error = err.message;
        else result.sent++;
      });
      if (s < count) setTimeout(sendOne, interval);
      else
        setTimeout(() => {
          sock.close();
          resolve(result);
        }, timeout);
    };
    sendOne();
  });
}
