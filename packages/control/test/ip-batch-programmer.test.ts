import { describe, expect, it } from 'vitest';
import { ipBatchLine, toHostRoute } from '../src/backend/ip-batch-programmer.js';

describe('ip -batch lines and routes read back', () => {
  it('weft routes carry proto 87; deletes match it, so a route of another proto is never deleted', () => {
    expect(ipBatchLine({ op: 'route-replace', dst: '10.244.2.0/24', via: '10.244.2.0' }, 'weft.1')).toBe(
      'route replace 10.244.2.0/24 via 10.244.2.0 dev weft.1 onlink proto 87',
    );
    expect(ipBatchLine({ op: 'route-del', dst: '10.244.2.0/24' }, 'weft.1')).toBe('route del 10.244.2.0/24 dev weft.1 proto 87');
    expect(ipBatchLine({ op: 'route-del', dst: '10.244.2.0/24', legacy: true }, 'weft.1')).toBe(
      'route del 10.244.2.0/24 via 10.244.2.0 dev weft.1',
    );
  });

  it('tells weft routes, legacy weft routes and others apart', () => {
    expect(
      toHostRoute({ dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'weft.1', flags: ['onlink'], protocol: '87' }, 'weft.1'),
    ).toMatchObject({ weft: true });
    expect(toHostRoute({ dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'weft.1', flags: ['onlink'] }, 'weft.1')).toMatchObject({
      weft: true,
      legacy: true,
    });
    expect(toHostRoute({ dst: '10.244.2.0/24', gateway: '10.244.2.9', dev: 'weft.1', flags: ['onlink'] }, 'weft.1')).toMatchObject({
      weft: false,
    });
    expect(toHostRoute({ dst: '192.168.60.0/24', dev: 'eth0', protocol: 'kernel' }, 'weft.1')).toMatchObject({ weft: false });
    expect(toHostRoute({ dst: 'default', gateway: '192.168.60.254', dev: 'eth0' }, 'weft.1')).toMatchObject({
      dst: '0.0.0.0/0',
      weft: false,
    });
  });
});
