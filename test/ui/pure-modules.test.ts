/**
 * The dashboard's pure modules, in Node: what shows as stale, and what the latency panel and
 * the fleet page read from the coordinator's Prometheus text.
 */
import { describe, expect, it } from 'vitest';
import { age, nodeStale, shownStatus } from '../../src/dashboard/static/freshness.mjs';
import { byLabel, latencyByRoute, parseProm } from '../../src/dashboard/static/prom.mjs';

const now = Date.parse('2026-12-03T12:00:00Z');
const heard = (msAgo: number) => new Date(now - msAgo).toISOString();

describe('freshness', () => {
  it('calls a node stale past its lost-after time, when lost, or when never heard', () => {
    expect(nodeStale({ status: 'ready', lastHeartbeat: heard(2000) }, now, 3000)).toBe(false);
    expect(nodeStale({ status: 'ready', lastHeartbeat: heard(3001) }, now, 3000)).toBe(true);
    expect(nodeStale({ status: 'lost', lastHeartbeat: heard(0) }, now, 3000)).toBe(true);
    expect(nodeStale({ status: 'ready', lastHeartbeat: null }, now, 3000)).toBe(true);
  });

  it('shows an instance on a stale node as stale, never its last status', () => {
    const stale = new Set(['node-b']);
    expect(shownStatus({ nodeId: 'node-b', status: 'running' }, stale)).toBe('stale');
    expect(shownStatus({ nodeId: 'node-a', status: 'running' }, stale)).toBe('running');
    expect(shownStatus({ nodeId: null, status: 'created' }, stale)).toBe('created');
  });

  it('says ages in words', () => {
    expect(age(heard(4000), now)).toBe('4 s');
    expect(age(heard(180_000), now)).toBe('3 min');
    expect(age(null, now)).toBe('never');
  });
});

describe('prometheus text', () => {
  const text = [
    '# HELP mvm_node_allocated_vcpus x',
    '# TYPE mvm_node_allocated_vcpus gauge',
    'mvm_node_allocated_vcpus{node="node-a"} 3',
    'mvm_node_allocated_vcpus{node="node-b"} 4',
    'mvm_http_request_duration_seconds_bucket{le="0.005",route="listInstances",method="GET",code="200"} 90',
    'mvm_http_request_duration_seconds_bucket{le="0.01",route="listInstances",method="GET",code="200"} 99',
    'mvm_http_request_duration_seconds_bucket{le="+Inf",route="listInstances",method="GET",code="200"} 100',
    'mvm_http_request_duration_seconds_bucket{le="0.005",route="listInstances",method="GET",code="404"} 0',
    'mvm_http_request_duration_seconds_bucket{le="0.01",route="listInstances",method="GET",code="404"} 0',
    'mvm_http_request_duration_seconds_bucket{le="+Inf",route="listInstances",method="GET",code="404"} 0',
    'mvm_http_request_duration_seconds_bucket{le="0.005",route="health",method="GET",code="200"} 0',
    'mvm_http_request_duration_seconds_bucket{le="0.01",route="health",method="GET",code="200"} 0',
    'mvm_http_request_duration_seconds_bucket{le="+Inf",route="health",method="GET",code="200"} 0',
    'escaped{label="a\\"b\\\\c"} 1',
  ].join('\n');

  it('reads gauges by label and unescapes label values', () => {
    const samples = parseProm(text);
    expect([...byLabel(samples, 'mvm_node_allocated_vcpus', 'node')]).toEqual([
      ['node-a', 3],
      ['node-b', 4],
    ]);
    expect(samples.at(-1)?.labels).toEqual({ label: 'a"b\\c' });
  });

  it('gives each route its count and the bucket bounds of its p50 and p99', () => {
    expect(latencyByRoute(parseProm(text), 'mvm_http_request_duration_seconds')).toEqual([
      { route: 'listInstances', count: 100, p50: 0.005, p99: 0.01 },
    ]);
  });
});
