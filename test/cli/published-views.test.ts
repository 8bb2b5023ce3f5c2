/**
 * Where `mvm connect` says a published port is reached: at the address each node's agent
 * reports in its heartbeats (its MVM_PUBLISH_ADDRESS), its underlay address or hostname for
 * one bound to every interface, 127.0.0.1 for a node that reports none or no node yet.
 */
import { describe, expect, it } from 'vitest';
import type { InstanceView, NodeView, PoolDetailView } from '../../src/contract/resources.ts';
import { publishAddresses, publishedAccess } from '../../src/cli/views/published-views.ts';

const pool = { id: 'web', publish: [{ hostPort: 18080, guestPort: 8080 }] } as PoolDetailView;
const on = (id: string, nodeId: string | null) =>
  ({ id, poolId: 'web', nodeId, desiredStatus: 'running' }) as InstanceView;
const node = (id: string, publishAddress?: string, underlayIp: string | null = null) =>
  ({
    id,
    hostname: `${id}.example`,
    underlayIp,
    usage: {
      vcpus: 0,
      memMib: 0,
      instances: {},
      diskFreeMib: 0,
      ...(publishAddress ? { publishAddress } : {}),
    },
  }) as NodeView;

describe('published ports in mvm connect', () => {
  it('names each address its nodes report, grouping nodes that share one', () => {
    const addresses = publishAddresses([
      node('a', '10.0.0.5'),
      node('b', '0.0.0.0', '192.168.7.2'),
      node('c', '0.0.0.0'),
      node('d'),
    ]);
    expect([...addresses]).toEqual([
      ['a', '10.0.0.5'],
      ['b', '192.168.7.2'],
      ['c', 'c.example'],
    ]);
    const instances = [on('1', 'a'), on('2', 'b'), on('3', 'c'), on('4', 'd'), on('5', 'e')];
    expect(publishedAccess([pool], instances, addresses).map((p) => [p.url, p.nodes])).toEqual([
      ['http://10.0.0.5:18080/', ['a']],
      ['http://192.168.7.2:18080/', ['b']],
      ['http://c.example:18080/', ['c']],
      ['http://127.0.0.1:18080/', ['d', 'e']],
    ]);
  });

  it('says 127.0.0.1 while no node holds the pool', () => {
    expect(publishedAccess([pool], [on('1', null)])).toEqual([
      { pool: 'web', hostPort: 18080, guestPort: 8080, nodes: [], url: 'http://127.0.0.1:18080/' },
    ]);
  });
});
