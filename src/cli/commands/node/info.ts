import { hostname } from 'node:os';
import { nodeIdFromHostname } from '../../../agent/join/host-facts.ts';
import { defineCommand, optionalArg } from '../../command.ts';
import { id } from '../../values.ts';
import { nodeFields } from '../../views/node-views.ts';

export const nodeInfo = defineCommand({
  path: ['node', 'info'],
  description:
    "Show a node's capacity, usage, labels and heartbeat (default: this host, by the id 'mvm add host' gives it)",
  args: { id: optionalArg(id('node'), "the node id (default: from this host's name)") },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const node = args.id ?? nodeIdFromHostname(hostname());
    const found = await ctx.client().call('getNode', { params: { node } });
    return { data: found, human: [nodeFields(found, new Date())] };
  },
});
