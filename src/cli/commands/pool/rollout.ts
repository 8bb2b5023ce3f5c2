import { HostError } from '../../../core/errors.ts';
import { isActive } from '../../../core/rollout-plan.ts';
import type { RolloutView } from '../../../contract/rollouts.ts';
import type { ApiClient } from '../../../drivers/coordinator-api/api-client.ts';
import { systemClock } from '../../../drivers/clock/system-clock.ts';
import { abortableSleep } from '../../../drivers/process/wait-until.ts';
import { arg, defineCommand, flag, option } from '../../command.ts';
import { duration, integer, poolPath, text } from '../../values.ts';
import { rolloutFields, rolloutLine } from '../../views/rollout-views.ts';

const POLL_MS = 1000;
const DEFAULT_WAIT_SECS = 3600;

/** Follows a rollout until it ends, printing each change of its progress. */
async function follow(
  api: ApiClient,
  started: RolloutView,
  print: (line: string) => void,
  timeoutSecs: number,
): Promise<RolloutView> {
  const params = { tenant: started.tenantId, pool: started.poolId };
  const deadline = Date.now() + timeoutSecs * 1000;
  let view = started;
  let said = '';
  for (;;) {
    const line = rolloutLine(view);
    if (line !== said) print((said = line));
    if (!isActive(view.state)) return view;
    if (Date.now() > deadline) {
      throw new HostError(
        `the rollout of ${params.tenant}/${params.pool} is still ${view.state} after ${timeoutSecs} s; follow it with 'mvm pool info ${params.tenant}/${params.pool}'`,
      );
    }
    await abortableSleep(systemClock, POLL_MS);
    view = (await api.call('getPool', { params })).rollout ?? view;
  }
}

/**
 * `--wait`: a rollout must end `done`, a rollback `rolled-back`; anything else (turned back,
 * halted) is a failure of the command.
 */
function waited(view: RolloutView, label: string, want: RolloutView['state']): RolloutView {
  if (view.state === want) return view;
  throw new HostError(
    `the ${want === 'done' ? 'rollout' : 'rollback'} of ${label} to ${want === 'done' ? view.to : view.from} ended ${view.state}: ${view.reason ?? 'no reason recorded'}; the pool runs ${view.state === 'failed' ? 'whatever its instances booted' : view.from}`,
    { state: view.state },
  );
}

export const poolRollout = defineCommand({
  path: ['pool', 'rollout'],
  description:
    "Replace the pool's instances with one of its revisions: canaries first, then batches; a failed canary rolls back by itself",
  args: { path: arg(poolPath, 'the pool') },
  options: {
    revision: option(text('<revision>'), "the revision ('dev' or an id from 'mvm pool revisions')"),
    canary: option(integer(0, 1000), 'instances replaced first, alone (default 1)'),
    maxUnavailable: option(integer(1, 1000), 'replaced instances not ready at once (default 1)'),
    includeSleeping: flag('replace sleeping instances too, discarding their snapshots'),
    readyTimeout: option(
      duration,
      'how long a replaced instance may take to be ready (default 5m)',
    ),
    wait: flag('follow the rollout until it ends; fail unless it is done'),
    timeout: option(duration, `how long --wait follows it (default ${DEFAULT_WAIT_SECS / 60}m)`),
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const { tenantId, poolId } = args.path;
    if (opts.revision === undefined) {
      throw new HostError(`missing --revision; see 'mvm pool revisions ${tenantId}/${poolId}'`);
    }
    const api = ctx.client();
    const started = await api.call('startRollout', {
      params: { tenant: tenantId, pool: poolId },
      body: {
        revision: opts.revision,
        ...(opts.canary !== undefined ? { canary: opts.canary } : {}),
        ...(opts.maxUnavailable !== undefined ? { maxUnavailable: opts.maxUnavailable } : {}),
        ...(opts.includeSleeping === true ? { includeSleeping: true } : {}),
        ...(opts.readyTimeout !== undefined ? { readyTimeoutSecs: opts.readyTimeout } : {}),
      },
    });
    const label = `${tenantId}/${poolId}`;
    if (opts.wait !== true) return { data: started, human: [rolloutFields(started)] };
    const print = (line: string) => ctx.print(line);
    const done = await follow(api, started, print, opts.timeout ?? DEFAULT_WAIT_SECS);
    return { data: waited(done, label, 'done'), human: [rolloutFields(done)] };
  },
});

export const poolRollback = defineCommand({
  path: ['pool', 'rollback'],
  description:
    'Turn the running rollout back, or return the pool to the revision before its last rollout',
  args: { path: arg(poolPath, 'the pool') },
  options: {
    wait: flag('follow the rollback until it ends; fail unless every instance is back'),
    timeout: option(duration, `how long --wait follows it (default ${DEFAULT_WAIT_SECS / 60}m)`),
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const api = ctx.client();
    const view = await api.call('rollbackPool', {
      params: { tenant: args.path.tenantId, pool: args.path.poolId },
    });
    if (opts.wait !== true) return { data: view, human: [rolloutFields(view)] };
    const print = (line: string) => ctx.print(line);
    const done = await follow(api, view, print, opts.timeout ?? DEFAULT_WAIT_SECS);
    const label = `${args.path.tenantId}/${args.path.poolId}`;
    return { data: waited(done, label, 'rolled-back'), human: [rolloutFields(done)] };
  },
});
