import { defineCommand, flag, option, optionalArg } from '../../command.ts';
import { id, integer } from '../../values.ts';
import { eventLine, eventTable } from '../../views/event-views.ts';
import { followEvents } from './follow-events.ts';

export const events = defineCommand({
  path: ['events'],
  description:
    'Show audit events, newest first; with --follow the last ones oldest first, then each as it is written, until ^C',
  args: { tenant: optionalArg(id('tenant'), 'only events of this tenant') },
  options: {
    last: option(integer(1, 10_000), 'how many events to show (default 50)'),
    follow: flag('keep printing events as they are written (server-sent events), until ^C'),
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const list = await ctx.client().call('listEvents', {
      query: {
        ...(args.tenant === undefined ? {} : { tenant: args.tenant }),
        ...(opts.last === undefined ? {} : { last: opts.last }),
      },
    });
    if (!opts.follow) return { data: list, human: [eventTable(list)] };
    const seen = [...list].reverse();
    for (const event of seen) ctx.print(eventLine(event));
    const stop = new AbortController();
    void ctx.untilShutdown().then(() => stop.abort());
    const tenant = args.tenant === undefined ? {} : { tenant: args.tenant };
    await followEvents(
      ctx.client(),
      { ...tenant, after: list[0]?.id ?? 0 },
      stop.signal,
      (event) => {
        seen.push(event);
        ctx.print(eventLine(event));
      },
    );
    return { data: seen, human: [] };
  },
});
