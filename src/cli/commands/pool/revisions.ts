import { listAll } from '../../../drivers/coordinator-api/pages.ts';
import { arg, defineCommand, option } from '../../command.ts';
import { poolPath, text } from '../../values.ts';
import { revisionTable } from '../../views/revision-views.ts';

export const poolRevisions = defineCommand({
  path: ['pool', 'revisions'],
  description: "List a pool's revisions (newest first), or print one's build log with --log",
  args: { path: arg(poolPath, 'the pool') },
  options: { log: option(text('<revision>'), "print this revision's build log instead") },
  output: 'data',
  async handler(ctx, args, opts) {
    const params = { tenant: args.path.tenantId, pool: args.path.poolId };
    const api = ctx.client();
    if (opts.log !== undefined) {
      const log = await api.call('getRevisionLog', { params: { ...params, revision: opts.log } });
      const note = log.truncated ? `(the last ${log.text.length} of ${log.bytes} bytes)\n` : '';
      return { data: log, human: [{ kind: 'text', text: `${note}${log.text.trimEnd()}` }] };
    }
    const revisions = await listAll(api, 'listRevisions', { params });
    return {
      data: revisions,
      human: [revisionTable(revisions, `${params.tenant}/${params.pool}`)],
    };
  },
});
