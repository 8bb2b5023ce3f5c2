import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { NotFoundError, UnavailableError } from '../../core/errors.ts';
import { artifactsOf, type Revision, type RevisionManifest } from '../../core/revision.ts';
import { ARTIFACT_SHA256_HEADER } from '../../contract/revisions.ts';
import type { ImageDeps } from '../builds/image-deps.ts';
import type { ServiceDeps } from './context.ts';

/** A byte range of a file of `size` bytes, or why it cannot be served. */
export type RangeAnswer =
  { kind: 'all' } | { kind: 'part'; start: number; end: number } | { kind: 'unsatisfiable' };

/** `Range: bytes=START-` or `bytes=START-END` (one range; what resuming downloads send). */
export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return { kind: 'all' };
  const match = /^bytes=(\d{1,15})-(\d{1,15})?$/.exec(header.trim());
  if (!match) return { kind: 'all' };
  const start = Number(match[1]);
  const end = match[2] === undefined ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return { kind: 'unsatisfiable' };
  return { kind: 'part', start, end };
}

/**
 * What nodes fetch to boot a revision: its manifest and its artifacts, served only to a node
 * that runs an instance of a pool the revision belongs to (a node never reads another
 * tenant's images). Artifacts are streamed from the store with HTTP Range for resuming, and
 * name their sha256 in a header so a node checks what it got.
 */
export class NodeArtifactService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly images: ImageDeps | undefined,
  ) {}

  /** The revisions of every pool with a live instance placed on the node. */
  private async revisionsOf(nodeId: string): Promise<Revision[]> {
    const placed = await this.deps.store.instances.list({ nodeId });
    const live = placed.filter((i) => i.status !== 'destroyed' || i.desiredStatus !== 'destroyed');
    const pools = new Map(live.map((i) => [`${i.tenantId}/${i.poolId}`, i]));
    return this.deps.store.revisions.ofPools(
      [...pools.values()].map((i) => ({ tenantId: i.tenantId, poolId: i.poolId })),
    );
  }

  async manifest(nodeId: string, revisionId: string): Promise<RevisionManifest> {
    const revision = (await this.revisionsOf(nodeId)).find((r) => r.id === revisionId);
    if (!revision) {
      throw new NotFoundError('revision', revisionId, `node '${nodeId}' runs no pool of it`);
    }
    return revision.manifest;
  }

  async artifact(nodeId: string, digest: string, range: string | undefined): Promise<Response> {
    if (!this.images) {
      throw new UnavailableError('this coordinator keeps no artifact store');
    }
    const revisions = await this.revisionsOf(nodeId);
    const named = revisions.some((r) => artifactsOf(r.manifest).some((a) => a.sha256 === digest));
    const stored = named ? await this.images.artifacts.stat(digest) : undefined;
    if (!stored) {
      throw new NotFoundError(
        'artifact',
        digest,
        `no revision of a pool node '${nodeId}' runs has it`,
      );
    }
    return bytesResponse(this.images.artifacts.path(digest), stored.bytes, range, {
      [ARTIFACT_SHA256_HEADER]: digest,
    });
  }
}

/** A file of `size` bytes as an answer: whole (200), the Range asked for (206), or 416. */
export function bytesResponse(
  path: string,
  size: number,
  range: string | undefined,
  extra: Record<string, string>,
): Response {
  const headers = {
    'content-type': 'application/octet-stream',
    'accept-ranges': 'bytes',
    ...extra,
  };
  const answer = parseRange(range, size);
  if (answer.kind === 'unsatisfiable') {
    return Response.json(
      {
        error: {
          code: 'invalid_argument',
          message: `range '${range ?? ''}' is outside the file's ${size} bytes`,
        },
      },
      { status: 416, headers: { ...headers, 'content-range': `bytes */${size}` } },
    );
  }
  if (answer.kind === 'all') {
    return new Response(webStream(path), {
      status: 200,
      headers: { ...headers, 'content-length': String(size) },
    });
  }
  return new Response(webStream(path, answer.start, answer.end), {
    status: 206,
    headers: {
      ...headers,
      'content-length': String(answer.end - answer.start + 1),
      'content-range': `bytes ${answer.start}-${answer.end}/${size}`,
    },
  });
}

function webStream(path: string, start?: number, end?: number): ReadableStream<Uint8Array> {
  const file = createReadStream(path, start === undefined ? {} : { start, end });
  return Readable.toWeb(file) as ReadableStream<Uint8Array>;
}
