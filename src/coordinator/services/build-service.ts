import { open } from 'node:fs/promises';
import {
  ConflictError,
  NotFoundError,
  UnavailableError,
  ValidationError,
} from '../../core/errors.ts';
import {
  isLocalFlake,
  isLocalImage,
  parseImageRef,
  sourceOf,
  type PoolSource,
} from '../../core/pool-source.ts';
import { revisionBytes, type Build, type Revision } from '../../core/revision.ts';
import {
  LOG_CHUNK_BYTES,
  LOG_TAIL_BYTES,
  MAX_UPLOAD_BYTES,
  type BuildProgressView,
  type RevisionView,
  type StartBuildRequest,
} from '../../contract/revisions.ts';
import type { ArtifactStore } from '../../ports/artifact-store.ts';
import type { BuildRunner } from '../builds/build-runner.ts';
import type { ImageDeps } from '../builds/image-deps.ts';
import type { Principal } from '../principal.ts';
import { actorOf } from '../principal.ts';
import { audit, type ServiceDeps } from './context.ts';
import { loadPool } from './pool-service.ts';

/** Whether the source names a path on the caller's machine (then it comes as an upload). */
export function needsUpload(source: PoolSource): boolean {
  if (source.kind === 'nix') return isLocalFlake(source.flake);
  if (source.kind !== 'oci') return false;
  const ref = parseImageRef(source.ref);
  return ref !== undefined && isLocalImage(ref);
}

export function revisionView(revision: Revision, current: string | null): RevisionView {
  return {
    id: revision.id,
    tenantId: revision.tenantId,
    poolId: revision.poolId,
    manifest: revision.manifest,
    source: revision.source,
    bytes: revisionBytes(revision.manifest),
    log: revision.log,
    builtBy: revision.builtBy,
    buildMs: revision.buildMs,
    createdAt: revision.createdAt,
    current: revision.id === current,
  };
}

/**
 * `mvm pool build` and what it records: builds started and followed, revisions listed with
 * their logs, and the uploads that carry sources from the caller's machine.
 */
export class BuildService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly images: ImageDeps | undefined,
    private readonly runner: BuildRunner | undefined,
  ) {}

  private need(): { images: ImageDeps; runner: BuildRunner } {
    if (!this.images || !this.runner) {
      throw new UnavailableError(
        'this coordinator keeps no artifact store, so it cannot build or serve revisions; run it with a data dir (mvm coordinator serve)',
      );
    }
    return { images: this.images, runner: this.runner };
  }

  async upload(tenantId: string, digest: string, body: ReadableStream<Uint8Array> | null) {
    const { images } = this.need();
    const uploads = images.uploads(tenantId);
    const known = await uploads.stat(digest);
    if (known) {
      await body?.cancel();
      return { digest, bytes: known.bytes, stored: false };
    }
    const chunks = body ?? emptyStream();
    const stored = await uploads.put(chunks, { expected: digest, maxBytes: MAX_UPLOAD_BYTES });
    return { digest: stored.sha256, bytes: stored.bytes, stored: stored.stored };
  }

  async start(
    principal: Principal,
    tenantId: string,
    poolId: string,
    request: StartBuildRequest,
  ): Promise<BuildProgressView> {
    const { images, runner } = this.need();
    const pool = await loadPool(this.deps.store, tenantId, poolId);
    const source = sourceOf(pool);
    const upload = await this.uploadFor(images.uploads(tenantId), source, request.upload);
    const now = this.deps.clock.now();
    const build: Build = {
      id: `b${now.getTime().toString(36)}-${this.deps.randomSuffix()}`,
      tenantId,
      poolId,
      status: 'running',
      source,
      revisionId: null,
      error: null,
      log: null,
      startedBy: actorOf(principal),
      startedAt: now.toISOString(),
      finishedAt: null,
    };
    await this.deps.store.transaction(async (repos) => {
      await repos.tenants.lock(tenantId);
      const running = (await repos.builds.list(tenantId, poolId)).find(
        (b) => b.status === 'running',
      );
      if (running) {
        throw new ConflictError(
          `pool '${tenantId}/${poolId}' is being built already (build ${running.id}); wait for it`,
          { build: running.id },
        );
      }
      await repos.builds.insert(build);
      await audit(repos, this.deps, principal, {
        tenantId,
        action: 'pool.build.start',
        target: `${tenantId}/${poolId}`,
        detail: { build: build.id, source, ...(upload ? { upload: upload.digest } : {}) },
      });
    });
    await runner.enqueue({ build, role: pool.role, ...(upload ? { upload } : {}) });
    return this.progress(tenantId, poolId, build.id, 0);
  }

  private async uploadFor(uploads: ArtifactStore, source: PoolSource, digest: string | undefined) {
    if (!needsUpload(source)) {
      if (digest !== undefined) {
        throw new ValidationError(
          'this pool builds from a source the coordinator reaches itself: send no upload',
        );
      }
      return undefined;
    }
    if (digest === undefined) {
      throw new ValidationError(
        "this pool's source is a path on the caller's machine: 'mvm pool build' packs and uploads it (PUT /v1/tenants/:tenant/uploads/:digest, then start the build with that digest)",
      );
    }
    if (!(await uploads.stat(digest))) {
      throw new NotFoundError('upload', digest, 'upload the packed source first');
    }
    return { digest, path: uploads.path(digest) };
  }

  async progress(
    tenantId: string,
    poolId: string,
    buildId: string,
    logFrom: number,
  ): Promise<BuildProgressView> {
    const { images, runner } = this.need();
    const build = await this.deps.store.builds.get(buildId);
    if (!build || build.tenantId !== tenantId || build.poolId !== poolId) {
      throw new NotFoundError('build', `${tenantId}/${poolId}/${buildId}`);
    }
    const path =
      build.status === 'running'
        ? runner.logPath(build.id)
        : build.log && images.artifacts.path(build.log.sha256);
    const chunk = path
      ? await readChunk(path, logFrom, LOG_CHUNK_BYTES)
      : { text: '', next: logFrom };
    const revision =
      build.revisionId === null
        ? undefined
        : await this.deps.store.revisions.get(tenantId, poolId, build.revisionId);
    const pool = await this.deps.store.pools.get(tenantId, poolId);
    return {
      build,
      log: chunk.text,
      logNext: chunk.next,
      revision: revision ? revisionView(revision, pool?.revision ?? null) : null,
    };
  }

  async revisions(tenantId: string, poolId: string): Promise<RevisionView[]> {
    const pool = await loadPool(this.deps.store, tenantId, poolId);
    const list = await this.deps.store.revisions.list(tenantId, poolId);
    return list.map((r) => revisionView(r, pool.revision));
  }

  async log(tenantId: string, poolId: string, revisionId: string) {
    const { images } = this.need();
    const revision = await this.deps.store.revisions.get(tenantId, poolId, revisionId);
    if (!revision) {
      throw new NotFoundError(
        'revision',
        `${tenantId}/${poolId}@${revisionId}`,
        `see 'mvm pool revisions ${tenantId}/${poolId}'`,
      );
    }
    if (!revision.log) return { revision: revision.id, text: '', bytes: 0, truncated: false };
    const from = Math.max(0, revision.log.bytes - LOG_TAIL_BYTES);
    const chunk = await readChunk(images.artifacts.path(revision.log.sha256), from, LOG_TAIL_BYTES);
    return {
      revision: revision.id,
      text: chunk.text,
      bytes: revision.log.bytes,
      truncated: from > 0,
    };
  }
}

/** At most `max` bytes of a text file from `from`; a character cut at the end waits for the next read. */
async function readChunk(path: string, from: number, max: number) {
  const file = await open(path, 'r').catch(() => undefined);
  if (!file) return { text: '', next: from };
  try {
    const buffer = Buffer.alloc(max);
    const { bytesRead } = await file.read(buffer, 0, max, from);
    const end = bytesRead < max ? bytesRead : lastCharStart(buffer, bytesRead);
    return { text: buffer.subarray(0, end).toString('utf8'), next: from + end };
  } finally {
    await file.close();
  }
}

/** Where the last UTF-8 character of `buffer[0, length)` starts. */
function lastCharStart(buffer: Buffer, length: number): number {
  let at = length - 1;
  while (at > 0 && ((buffer[at] ?? 0) & 0xc0) === 0x80) at -= 1;
  return at;
}

async function* emptyStream(): AsyncGenerator<Uint8Array> {}
