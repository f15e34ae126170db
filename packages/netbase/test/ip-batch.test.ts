import { describe, expect, it } from 'vitest';
import { batchErrorText, neighDelLine, neighPermanentLine, parseBatchFailures, routeDelLine, routeOnlinkLine } from '../dist/index.js';

describe('ip -batch lines', () => {
  it("build flannel's per-peer neighbour and route", () => {
    expect(neighPermanentLine('10.244.2.0', '02:aa:bb:cc:dd:ee', 'weft.1')).toBe(
      'neigh replace 10.244.2.0 lladdr 02:aa:bb:cc:dd:ee dev weft.1 nud permanent',
    );
    expect(neighDelLine('10.244.2.0', 'weft.1')).toBe('neigh del 10.244.2.0 dev weft.1');
    expect(routeOnlinkLine('10.244.2.0/24', '10.244.2.0', 'weft.1')).toBe('route replace 10.244.2.0/24 via 10.244.2.0 dev weft.1 onlink');
    expect(routeOnlinkLine('10.244.2.0/24', '10.244.2.0', 'weft.1', 87)).toBe(
      'route replace 10.244.2.0/24 via 10.244.2.0 dev weft.1 onlink proto 87',
    );
    expect(routeDelLine('10.244.2.0/24', 'weft.1', 87)).toBe('route del 10.244.2.0/24 dev weft.1 proto 87');
  });
});

describe('ip -batch failures', () => {
  it('maps -force output to each failed line with the messages printed before it', () => {
    // What iproute2 6.1 prints for `ip -force -batch -` with lines 2 and 4 failing.
    const stderr = 'RTNETLINK answers: No such process\nCommand failed -:2\nError: Nexthop has invalid gateway.\nCommand failed -:4\n';
    expect(parseBatchFailures(stderr)).toEqual([
      { line: 2, message: 'RTNETLINK answers: No such process' },
      { line: 4, message: 'Error: Nexthop has invalid gateway.' },
    ]);
    expect(parseBatchFailures('Command failed -:7\n')).toEqual([{ line: 7, message: 'failed' }]);
    expect(parseBatchFailures('')).toEqual([]);
  });

  it("keeps ip's own words when no line is named", () => {
    expect(batchErrorText('Cannot open network namespace "x": No such file or directory\n')).toBe(
      'Cannot open network namespace "x": No such file or directory',
    );
    expect(batchErrorText('RTNETLINK answers: File exists\nCommand failed -:1\n')).toBe('RTNETLINK answers: File exists');
    expect(batchErrorText('')).toBe('no message');
  });
});
