#!/usr/bin/env python3
"""
The netpol suite's pod: serves TCP and UDP on ports 80 and 81 and watches for SCTP, and probes other
pods on command. Runs inside a pod namespace; talks JSON lines on stdin/stdout.

This kernel has no SCTP sockets (no "SCTP" in /proc/net/protocols), so SCTP is probed the way a
firewall sees it: the client sends a raw SCTP INIT (checksummed, random source port, a unique initiate
tag) and the server's raw IPPROTO_SCTP socket reports the tags that arrived. A policy that drops the
INIT keeps its tag from the server; that is the whole question a NetworkPolicy answers for SCTP.

  {"id":1,"probe":[["k1","tcp","10.244.1.3",80],...]}  -> {"id":1,"results":{"k1":true,...}}  (sctp: sent)
  {"id":2,"sctpSeen":true}                              -> {"id":2,"seen":["<src ip> <port> <tag>",...]} (then cleared)
"""
import json, os, random, socket, struct, sys, threading
from concurrent.futures import ThreadPoolExecutor

TIMEOUT = 1.0
PORTS = (80, 81)
seen = set()
seen_lock = threading.Lock()
out_lock = threading.Lock()


def crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC = crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def sctp_init(sport, dport, tag):
    chunk = struct.pack('!BBHIIHHI', 1, 0, 20, tag, 65535, 1, 1, tag)
    pkt = struct.pack('!HHII', sport, dport, 0, 0) + chunk
    return pkt[:8] + struct.pack('<I', crc32c(pkt)) + pkt[12:]


def serve_tcp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', port))
    s.listen(256)
    while True:
        c, _ = s.accept()
        c.close()


def serve_udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', port))
    while True:
        data, peer = s.recvfrom(2048)
        s.sendto(data, peer)


raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, 132)


def watch_sctp():
    while True:
        pkt, _ = raw.recvfrom(4096)
        ihl = (pkt[0] & 15) * 4
        if len(pkt) < ihl + 20 or pkt[ihl + 12] != 1:
            continue
        src = socket.inet_ntoa(pkt[12:16])
        dport, = struct.unpack('!H', pkt[ihl + 2:ihl + 4])
        tag, = struct.unpack('!I', pkt[ihl + 16:ihl + 20])
        with seen_lock:
            seen.add('%s %d %d' % (src, dport, tag))


def probe(proto, ip, port, tag):
    try:
        if proto == 'tcp':
            s = socket.create_connection((ip, port), timeout=TIMEOUT)
            s.close()
            return True
        if proto == 'udp':
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(TIMEOUT)
            s.sendto(b'probe', (ip, port))
            try:
                return s.recvfrom(64)[0] == b'probe'
            finally:
                s.close()
        raw.sendto(sctp_init(random.randint(20000, 60000), port, tag), (ip, 0))
        return True
    except OSError:
        return False


def reply(obj):
    with out_lock:
        sys.stdout.write(json.dumps(obj) + '\n')
        sys.stdout.flush()


def main():
    for p in PORTS:
        threading.Thread(target=serve_tcp, args=(p,), daemon=True).start()
        threading.Thread(target=serve_udp, args=(p,), daemon=True).start()
    threading.Thread(target=watch_sctp, daemon=True).start()
    pool = ThreadPoolExecutor(max_workers=96)
    reply({'ready': True, 'pid': os.getpid()})
    for line in sys.stdin:
        cmd = json.loads(line)
        if 'probe' in cmd:
            def run(cmd=cmd):
                futs = {k: pool.submit(probe, proto, ip, port, tag) for k, proto, ip, port, tag in cmd['probe']}
                reply({'id': cmd['id'], 'results': {k: f.result() for k, f in futs.items()}})
            threading.Thread(target=run, daemon=True).start()
        elif 'sctpSeen' in cmd:
            with seen_lock:
                got = sorted(seen)
                seen.clear()
            reply({'id': cmd['id'], 'seen': got})


main()
