import { describe, expect, it } from 'vitest';
import { livenessOf, readinessOf, type ReadinessFacts } from '../src/http/node-health.js';

const up: ReadinessFacts = { leaseHeld: true, deviceUp: true, subnetFileWritten: true, datapathHealthy: true };

describe('/readyz and /healthz decisions', () => {
  it('ready only when every check holds; each failing check is named', () => {
    expect(readinessOf(up)).toEqual({ ready: true, checks: { ...up, podsOnOurSubnet: true } });
    for (const k of ['leaseHeld', 'deviceUp', 'subnetFileWritten', 'datapathHealthy'] as const) {
      const r = readinessOf({ ...up, [k]: false });
      expect(r.ready).toBe(false);
      expect(r.checks[k]).toBe(false);
    }
  });

  it('after a subnet change, not ready while pods remain on the old subnet, with the addresses in the detail', () => {
    const podsLeft = ['10.244.5.2', '10.244.5.3', '10.244.5.4', '10.244.5.5', '10.244.5.6', '10.244.5.7'];
    const r = readinessOf({ ...up, subnetMove: { from: '10.244.5.0/24', to: '10.244.9.0/24', podsLeft } });
    expect(r.ready).toBe(false);
    expect(r.checks.podsOnOurSubnet).toBe(false);
    expect(r.detail).toBe(
      '6 pod address(es) still on 10.244.5.0/24, our subnet is now 10.244.9.0/24: 10.244.5.2, 10.244.5.3, 10.244.5.4, 10.244.5.5, 10.244.5.6',
    );
    expect(readinessOf({ ...up, subnetMove: { from: '10.244.5.0/24', to: '10.244.9.0/24', podsLeft: [] } })).toEqual(readinessOf(up));
  });

  it('alive unless the watchdog holds the datapath failed, with its cause', () => {
    expect(livenessOf(undefined)).toEqual({ ok: true });
    expect(livenessOf({ healthy: true })).toEqual({ ok: true });
    expect(livenessOf({ healthy: false, cause: 'worker exited (code 1)' })).toEqual({ ok: false, cause: 'worker exited (code 1)' });
  });
});
