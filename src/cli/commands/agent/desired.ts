import { writeFileAtomic } from '../../../drivers/fs/write-file-atomic.ts';
import { parseDocument, seedDocumentSchema, type SeedDocument } from '../../../contract/desired.ts';
import { poolsOnNode, seedFromState } from '../../../core/desired-doc.ts';
import { defineCommand, option } from '../../command.ts';
import type { CommandContext } from '../../command.ts';
import { id, text } from '../../values.ts';

/** Tenants and pools as the coordinator holds them now, optionally one node's share. */
async function currentSeed(ctx: CommandContext, nodeId: string | undefined): Promise<SeedDocument> {
  const client = ctx.client();
  const tenants = await client.call('listTenants', {});
  const pools = (
    await Promise.all(tenants.map((t) => client.call('listPools', { params: { tenant: t.id } })))
  ).flat();
  if (nodeId === undefined) return seedFromState(tenants, pools);
  const instances = await client.call('listInstances', { query: { node: nodeId } });
  const held = poolsOnNode(pools, instances, nodeId);
  const used = new Set(held.map((p) => p.tenantId));
  return seedFromState(
    tenants.filter((t) => used.has(t.id)),
    held,
  );
}

export const agentDesired = defineCommand({
  path: ['agent', 'desired'],
  description:
    "Write a seed desired-state document (schema v1: tenants → pools → counts) from the coordinator's current state, for 'mvm agent reconcile --desired'",
  args: {},
  options: {
    file: option(text('<path>'), 'write it to this file instead of printing it'),
    node: option(id('node'), "only what is placed on this node, with that node's counts"),
  },
  output: 'data',
  async handler(ctx, _args, opts) {
    // Validated like a hand-written seed would be, so what is written is what reconcile reads.
    const seed = parseDocument(seedDocumentSchema, await currentSeed(ctx, opts.node), 'seed');
    const pools = seed.tenants.reduce((n, t) => n + t.pools.length, 0);
    const summary = `${seed.tenants.length} tenant(s), ${pools} pool(s)`;
    if (opts.file === undefined) {
      return { data: seed, human: [{ kind: 'text', text: JSON.stringify(seed, null, 2) }] };
    }
    await writeFileAtomic(opts.file, `${JSON.stringify(seed, null, 2)}\n`);
    return {
      data: { file: opts.file, tenants: seed.tenants.length, pools },
      human: [{ kind: 'text', text: `wrote ${opts.file}: ${summary}` }],
    };
  },
});
