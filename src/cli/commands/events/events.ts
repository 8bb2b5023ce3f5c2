import { defineCommand, option, optionalArg } from '../../command.ts';
import { id, integer } from '../../values.ts';
import { eventTable } from '../../views/event-views.ts';

export const events = defineCommand({
  path: ['events'],
  description: 'Show audit events, newest first',
  args: { tenant: optionalArg(id('tenant'), 'only events of this tenant') },
  options: { last: option(integer(1, 10_000), 'how many events to show (default 50)') },
  output: 'data',
  async handler(ctx, args, opts) {
    const list = await ctx.client().call('listEvents', {
      query: {
        ...(args.tenant === undefined ? {} : { tenant: args.tenant }),
        ...(opts.last === undefined ? {} : { last: opts.last }),
      },
    });
    return { data: list, human: [eventTable(list)] };
  },
});
