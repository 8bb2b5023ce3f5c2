import { appendFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, NotFoundError } from '../../core/errors.ts';
import type { Role } from '../../core/model.ts';
import { describeSource } from '../../core/pool-source.ts';
import { REVISION_SCHEMA, revisionBytes } from '../../core/revision.ts';
import type { ArtifactRef, Build, Revision, RevisionManifest } from '../../core/revision.ts';
import { revisionIdOf } from '../../contract/revisions.ts';
import { rootfsFormatOf } from '../../drivers/image/rootfs-image.ts';
import type { Clock } from '../../ports/clock.ts';
import type { BuildContext, BuiltImage } from '../../ports/image-builder.ts';
import type { Logger } from '../../ports/logger.ts';
import type { Store } from '../../ports/store.ts';
import type { ImageDeps } from './image-deps.ts';

export interface BuildJob {
  build: Build;
  role: Role;
  /** The uploaded packed source, removed once the build is over. */
  upload?: { digest: string; path: string };
}

export interface BuildRunnerDeps {
  store: Store;
  clock: Clock;
  images: ImageDeps;
  logger?: Logger;
}

/**
 * Runs builds one at a time (a host has few cores; Nix and mkfs want them all), each in its
 * own work dir with its log growing there: the builder makes the files, the runner stores them
 * as artifacts, records the revision (its id the sha256 of its manifest) and finishes the build.
 */
export class BuildRunner {
  private queue: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();

  constructor(private readonly deps: BuildRunnerDeps) {}

  /** The log of a build while it runs (after, it is an artifact). */
  logPath(buildId: string): string {
    return join(this.deps.images.workDir, buildId, 'build.log');
  }

  /** Prepares the build's log at once (a poll may come before the build starts), then queues it. */
  async enqueue(job: BuildJob): Promise<void> {
    const dir = join(this.deps.images.workDir, job.build.id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(this.logPath(job.build.id), `queued: ${describeSource(job.build.source)}\n`, {
      mode: 0o600,
    });
    this.queue = this.queue.then(() => this.run(job, dir));
  }

  /**
   * At start: builds the store still calls running ran in a coordinator that is gone, so they
   * failed; their work dirs and the uploads they were waiting on go too.
   */
  async recover(): Promise<number> {
    const stale = await this.deps.store.builds.running();
    for (const build of stale) {
      await this.deps.store.builds.finish(build.id, {
        status: 'failed',
        revisionId: null,
        error: 'the coordinator stopped during the build; run mvm pool build again',
        log: null,
        finishedAt: this.deps.clock.now().toISOString(),
      });
    }
    await rm(this.deps.images.workDir, { recursive: true, force: true });
    return stale.length;
  }

  /** Stops the running build (it is recorded as failed) and drops the queued ones. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.queue;
  }

  private async run(job: BuildJob, dir: string): Promise<void> {
    const started = this.deps.clock.now().getTime();
    const logFile = this.logPath(job.build.id);
    const log = (line: string) => {
      const secs = ((this.deps.clock.now().getTime() - started) / 1000).toFixed(1);
      return appendFile(logFile, `[${secs.padStart(6)}s] ${line}\n`);
    };
    const context: BuildContext = { workDir: dir, logFile, log, signal: this.abort.signal };
    try {
      if (this.abort.signal.aborted)
        throw new Error('the coordinator stopped before the build ran');
      const builder = this.deps.images.builders[job.build.source.kind];
      const built = await builder.build(
        {
          source: job.build.source,
          role: job.role,
          ...(job.upload ? { upload: job.upload.path } : {}),
        },
        context,
      );
      const manifest = await this.store(built, log);
      const id = revisionIdOf(manifest);
      await log(`revision ${id} (${revisionBytes(manifest)} bytes)`);
      const logRef = await this.deps.images.artifacts.putFile(logFile);
      const revision: Revision = {
        tenantId: job.build.tenantId,
        poolId: job.build.poolId,
        id,
        manifest,
        source: built.source,
        log: artifactRef(logRef),
        builtBy: job.build.startedBy,
        buildMs: this.deps.clock.now().getTime() - started,
        createdAt: this.deps.clock.now().toISOString(),
      };
      await this.record(job.build, revision);
    } catch (error) {
      await log(`failed: ${errorMessage(error)}`).catch(() => undefined);
      await this.fail(job.build, error, logFile);
    } finally {
      await rm(dir, { recursive: true, force: true });
      if (job.upload) await this.deps.images.uploads(job.build.tenantId).remove(job.upload.digest);
    }
  }

  /** Stores the built files as artifacts; the manifest names them by their sha256. */
  private async store(
    built: BuiltImage,
    log: (line: string) => Promise<void>,
  ): Promise<RevisionManifest> {
    const put = async (what: string, path: string): Promise<ArtifactRef> => {
      const ref = artifactRef(await this.deps.images.artifacts.putFile(path));
      await log(`stored ${what}: sha256 ${ref.sha256}, ${ref.bytes} bytes`);
      return ref;
    };
    return {
      schema: REVISION_SCHEMA,
      kernel: await put('kernel', built.kernel),
      initrd: built.initrd === null ? null : await put('initrd', built.initrd),
      rootfs: await put('rootfs', built.rootfs),
      rootfsFormat: await rootfsFormatOf(built.rootfs),
      cmdline: built.cmdline,
      initDrive: 'node',
      workload: built.workload?.spec ?? null,
      runSpec: built.workload ? await put('run spec', built.workload.drive) : null,
      ...(built.drives ? { drives: built.drives } : {}),
    };
  }

  private async record(build: Build, revision: Revision): Promise<void> {
    await this.deps.store.transaction(async (repos) => {
      await repos.tenants.lock(build.tenantId);
      if (!(await repos.pools.get(build.tenantId, build.poolId))) {
        throw new NotFoundError(
          'pool',
          `${build.tenantId}/${build.poolId}`,
          'it was destroyed during the build',
        );
      }
      const known = await repos.revisions.get(build.tenantId, build.poolId, revision.id);
      if (!known) await repos.revisions.insert(revision);
      await repos.builds.finish(build.id, {
        status: 'succeeded',
        revisionId: revision.id,
        error: null,
        log: revision.log,
        finishedAt: revision.createdAt,
      });
      await repos.audit.append({
        tenantId: build.tenantId,
        at: revision.createdAt,
        actor: build.startedBy,
        action: 'pool.build',
        target: `${build.tenantId}/${build.poolId}`,
        detail: {
          build: build.id,
          revision: revision.id,
          new: !known,
          source: describeSource(build.source),
          bytes: revisionBytes(revision.manifest),
          ms: revision.buildMs,
        },
      });
    });
    this.deps.logger?.info(
      { build: build.id, revision: revision.id, tenantId: build.tenantId, poolId: build.poolId },
      'build recorded a revision',
    );
  }

  private async fail(build: Build, error: unknown, logFile: string): Promise<void> {
    const log = await this.deps.images.artifacts.putFile(logFile).catch(() => undefined);
    const finishedAt = this.deps.clock.now().toISOString();
    const message = errorMessage(error).slice(0, 2000);
    await this.deps.store.builds
      .finish(build.id, {
        status: 'failed',
        revisionId: null,
        error: message,
        log: log ? artifactRef(log) : null,
        finishedAt,
      })
      .catch((err: unknown) =>
        this.deps.logger?.error({ err, build: build.id }, 'build not finished'),
      );
    this.deps.logger?.warn({ build: build.id, error: message }, 'build failed');
  }
}

const artifactRef = (ref: ArtifactRef): ArtifactRef => ({ sha256: ref.sha256, bytes: ref.bytes });
