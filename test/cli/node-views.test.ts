import { describe, expect, it } from 'vitest';
import { renderHuman } from '../../src/cli/render.ts';
import { ageOf, nodeFields, nodeTable } from '../../src/cli/views/node-views.ts';
import type { NodeView } from '../../src/contract/resources.ts';

const NOW = new Date('2026-11-22T12:00:00.000Z');

const node = (overrides: Partial<NodeView> = {}): NodeView => ({
  id: 'node-a',
  hostname: 'kvm-a',
  arch: 'x86_64',
  capacity: { vcpus: 8, memMib: 16384, diskGib: 100 },
  labels: {},
  status: 'ready',
  lastHeartbeat: '2026-11-22T11:59:57.000Z',
  underlayIp: null,
  usage: { vcpus: 3, memMib: 1536, instances: { running: 2, sleeping: 1 }, diskFreeMib: 5000 },
  createdAt: '2026-11-20T00:00:00.000Z',
  version: 4,
  ...overrides,
});

describe('node views', () => {
  it('says how long ago a heartbeat was, coarsely', () => {
    expect(ageOf(null, NOW)).toBe('never');
    expect(ageOf('2026-11-22T11:59:57.000Z', NOW)).toBe('3s ago');
    expect(ageOf('2026-11-22T11:50:00.000Z', NOW)).toBe('10m ago');
    expect(ageOf('2026-11-22T07:00:00.000Z', NOW)).toBe('5h ago');
    expect(ageOf('2026-11-19T12:00:00.000Z', NOW)).toBe('3d ago');
  });

  it('lists status, used/total and heartbeat age; a node never heard from shows totals', () => {
    const text = renderHuman([
      nodeTable(
        [node(), node({ id: 'node-b', status: 'lost', lastHeartbeat: null, usage: null })],
        NOW,
      ),
    ]);
    const [header, a, b] = text.split('\n');
    expect(header).toMatch(/STATUS.*VCPUS.*MEM MIB.*HEARTBEAT/);
    expect(a).toMatch(/node-a .* ready .* 3\/8 +1536\/16384 .* 3s ago$/);
    expect(b).toMatch(/node-b .* lost .* 8 +16384 .* never$/);
  });

  it("shows a node's usage and the age of its last heartbeat", () => {
    const text = renderHuman([nodeFields(node(), NOW)]);
    expect(text).toMatch(
      /usage: +3 vcpus, 1536 MiB held; 2 running, 1 sleeping; 5000 MiB disk free/,
    );
    expect(text).toMatch(/last heartbeat: +2026-11-22T11:59:57.000Z \(3s ago\)/);
    expect(renderHuman([nodeFields(node({ usage: null }), NOW)])).toMatch(
      /usage: +not reported yet/,
    );
  });

  it('shows where other nodes reach a node, or that they cannot', () => {
    const table = renderHuman([nodeTable([node({ underlayIp: '10.9.0.4' }), node()], NOW)]);
    const [header, a, b] = table.split('\n');
    expect(header).toMatch(/STATUS +UNDERLAY +VCPUS/);
    expect(a).toMatch(/ ready +10\.9\.0\.4 +3\/8 /);
    expect(b).toMatch(/ ready +- +3\/8 /);
    expect(renderHuman([nodeFields(node({ underlayIp: '10.9.0.4' }), NOW)])).toMatch(
      /underlay: +10\.9\.0\.4/,
    );
    expect(renderHuman([nodeFields(node(), NOW)])).toMatch(/underlay: +unknown/);
  });
});
