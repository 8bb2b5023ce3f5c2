import { HostError } from '../../../core/errors.ts';
import { describeSource, sourceOf } from '../../../core/pool-source.ts';
import type { BuildProgressView, RevisionView } from '../../../contract/revisions.ts';
import { uploadResultSchema } from '../../../contract/revisions.ts';
import type { ApiClient } from '../../../drivers/coordinator-api/api-client.ts';
import { systemClock } from '../../../drivers/clock/system-clock.ts';
import { abortableSleep } from '../../../drivers/process/wait-until.ts';
import { arg, defineCommand, option } from '../../command.ts';
import type { CommandContext } from '../../command.ts';
import { packSource } from '../../pack-source.ts';
import { duration, poolPath } from '../../values.ts';
import { mib, revisionFields } from '../../views/revision-views.ts';

const POLL_MS = 500;
const DEFAULT_TIMEOUT_SECS = 3600;

/** Packs and uploads a source on this machine; undefined for one the coordinator reaches (also used by mvm new openclaw). */
export async function upload(
  ctx: CommandContext,
  tenant: string,
  source: Parameters<typeof packSource>[0],
) {
  const packed = await packSource(source);
  if (!packed) return undefined;
  try {
    ctx.print(`packed ${packed.what}: ${mib(packed.bytes)}, sha256 ${packed.digest}`);
    const { createReadStream } = await import('node:fs');
    const { Readable } = await import('node:stream');
    const body = Readable.toWeb(createReadStream(packed.path)) as ReadableStream<Uint8Array>;
    const response = await ctx
      .client()
      .open('uploadSource', { params: { tenant, digest: packed.digest } }, { body, timeoutMs: 0 });
    const result = uploadResultSchema.parse(await response.json());
    ctx.print(result.stored ? 'uploaded' : 'the coordinator had it already');
    return packed.digest;
  } finally {
    await packed.cleanup();
  }
}

/** Polls the build, printing its log as it grows, until it is over or `timeoutSecs` pass. */
export async function follow(
  api: ApiClient,
  started: BuildProgressView,
  print: (line: string) => void,
  timeoutSecs: number,
): Promise<BuildProgressView> {
  const { tenantId, poolId, id } = started.build;
  const deadline = Date.now() + timeoutSecs * 1000;
  let view = started;
  let partial = '';
  for (;;) {
    const lines = (partial + view.log).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) print(`  ${line}`);
    if (view.build.status !== 'running' && view.log === '') break;
    if (Date.now() > deadline) {
      throw new HostError(
        `build ${id} is still running after ${timeoutSecs} s; follow it with 'mvm pool revisions ${tenantId}/${poolId}' later`,
      );
    }
    if (view.build.status === 'running') await abortableSleep(systemClock, POLL_MS);
    view = await api.call('getBuild', {
      params: { tenant: tenantId, pool: poolId, build: id },
      query: { logFrom: view.logNext },
    });
  }
  if (partial !== '') print(`  ${partial}`);
  return view;
}

export const poolBuild = defineCommand({
  path: ['pool', 'build'],
  description:
    "Build the pool's image source (OCI image, flake or dev image) on the coordinator into a revision, showing its log",
  args: { path: arg(poolPath, 'the pool') },
  options: {
    timeout: option(
      duration,
      `how long to follow the build (default ${DEFAULT_TIMEOUT_SECS / 60}m)`,
    ),
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const { tenantId, poolId } = args.path;
    const api = ctx.client();
    const pool = await api.call('getPool', { params: { tenant: tenantId, pool: poolId } });
    const source = sourceOf(pool);
    ctx.print(`building ${tenantId}/${poolId} from ${describeSource(source)}`);
    const digest = await upload(ctx, tenantId, source);
    const started = await api.call('startBuild', {
      params: { tenant: tenantId, pool: poolId },
      body: digest === undefined ? {} : { upload: digest },
    });
    ctx.print(`build ${started.build.id}:`);
    const done = await follow(
      api,
      started,
      (line) => ctx.print(line),
      opts.timeout ?? DEFAULT_TIMEOUT_SECS,
    );
    const revision: RevisionView | null = done.revision;
    if (done.build.status !== 'succeeded' || revision === null) {
      throw new HostError(
        `build ${done.build.id} of '${tenantId}/${poolId}' failed: ${done.build.error ?? 'unknown'}`,
        {
          build: done.build.id,
        },
      );
    }
    return {
      data: revision,
      human: [
        revisionFields(revision),
        {
          kind: 'text',
          text: revision.current
            ? 'the pool runs this revision already'
            : `next: mvm pool update ${tenantId}/${poolId} --revision ${revision.id}`,
        },
      ],
    };
  },
});
