import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HostError, ValidationError } from '../../core/errors.ts';
import { artifactsOf, isRevisionId, manifestText } from '../../core/revision.ts';
import type { ArtifactRef, RevisionManifest } from '../../core/revision.ts';
import { revisionIdOf, revisionManifestSchema } from '../../contract/revisions.ts';
import { ContentStore, sha256OfFile, writeHashing } from '../../drivers/artifacts/content-store.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import { publishIfAbsent } from '../../drivers/drives/atomic-file.ts';
import type { Logger } from '../../ports/logger.ts';

/** Artifacts are images the VMM (and its jail) reads; the data dir above keeps others out. */
const MODES = { dir: 0o755, file: 0o644 };
/** A transfer cut short is resumed this many times before the fetch fails. */
const MAX_ATTEMPTS = 4;

export interface CachedRevision {
  id: string;
  manifest: RevisionManifest;
  /** Where each artifact of the manifest is on this node. */
  path(ref: ArtifactRef): string;
}

export interface RevisionCacheOptions {
  /** `<agent data dir>/artifacts`. */
  root: string;
  /** The node's link to the coordinator; without it only what is cached can boot. */
  coordinator?: { api: ApiClient; nodeId: string };
  logger?: Logger;
}

/**
 * A node's cache of revisions: each manifest (checked against its id, the sha256 of its
 * text) and the artifacts it names (checked against their sha256), fetched from the
 * coordinator once and kept under the agent's data dir. A partial transfer resumes with
 * Range; a file whose bytes do not hash to its name, in the cache or off the wire, is
 * refused, removed and fetched again.
 */
export class RevisionCache {
  readonly store: ContentStore;
  /** Files checked since this process started, by their identity (no rehash per boot). */
  private readonly checked = new Map<string, string>();
  private readonly pending = new Map<string, Promise<CachedRevision>>();

  constructor(private readonly options: RevisionCacheOptions) {
    this.store = new ContentStore(options.root, MODES);
  }

  /** The revision's manifest and artifacts on this node, fetched if missing or damaged. */
  ensure(id: string): Promise<CachedRevision> {
    if (!isRevisionId(id)) throw new ValidationError(`'${id}' is not a revision id`);
    let running = this.pending.get(id);
    if (!running) {
      running = this.load(id).finally(() => this.pending.delete(id));
      this.pending.set(id, running);
    }
    return running;
  }

  /** The revisions whose manifests are cached here (node gc keeps what the used ones name). */
  async cachedManifests(): Promise<Map<string, RevisionManifest>> {
    const dir = join(this.options.root, 'revisions');
    const out = new Map<string, RevisionManifest>();
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const id = name.replace(/\.json$/, '');
      const manifest = isRevisionId(id) ? await this.readManifest(id) : undefined;
      if (manifest) out.set(id, manifest);
    }
    return out;
  }

  manifestPath(id: string): string {
    return join(this.options.root, 'revisions', `${id}.json`);
  }

  private async load(id: string): Promise<CachedRevision> {
    const manifest = (await this.readManifest(id)) ?? (await this.fetchManifest(id));
    for (const ref of artifactsOf(manifest)) await this.ensureArtifact(ref);
    return { id, manifest, path: (ref) => this.store.path(ref.sha256) };
  }

  private async readManifest(id: string): Promise<RevisionManifest | undefined> {
    const text = await readFile(this.manifestPath(id), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    const parsed = revisionManifestSchema.safeParse(JSON.parse(text) as unknown);
    if (parsed.success && revisionIdOf(parsed.data) === id) return parsed.data;
    this.options.logger?.warn({ revision: id }, 'cached manifest does not hash to its id; removed');
    await rm(this.manifestPath(id), { force: true });
    return undefined;
  }

  private coordinator(what: string) {
    const link = this.options.coordinator;
    if (!link) {
      throw new HostError(
        `${what} is not cached on this node and the agent follows no coordinator to fetch it from`,
      );
    }
    return link;
  }

  private async fetchManifest(id: string): Promise<RevisionManifest> {
    const { api, nodeId } = this.coordinator(`revision ${id}`);
    const manifest = await api.call('nodeRevision', { params: { node: nodeId, revision: id } });
    if (revisionIdOf(manifest) !== id) {
      throw new HostError(`the coordinator's manifest of revision ${id} does not hash to its id`);
    }
    await mkdir(join(this.options.root, 'revisions'), { recursive: true, mode: MODES.dir });
    await writeFile(this.manifestPath(id), manifestText(manifest), { mode: MODES.file });
    return manifest;
  }

  /** A cached artifact whose bytes hash to its name, else a fresh copy from the coordinator. */
  private async ensureArtifact(ref: ArtifactRef): Promise<void> {
    const path = this.store.path(ref.sha256);
    if (await this.intact(path, ref)) return;
    await rm(path, { force: true });
    this.checked.delete(path);
    await this.fetchArtifact(ref);
    if (!(await this.intact(path, ref))) {
      throw new HostError(`artifact ${ref.sha256} changed on disk as it was fetched`);
    }
  }

  private async intact(path: string, ref: ArtifactRef): Promise<boolean> {
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) return false;
    const identity = `${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;
    if (this.checked.get(path) === identity) return true;
    const { sha256, bytes } = await sha256OfFile(path);
    if (sha256 !== ref.sha256 || bytes !== ref.bytes) {
      this.options.logger?.warn(
        { artifact: ref.sha256, found: sha256, bytes },
        'cached artifact refused: its bytes do not hash to its name; fetching it again',
      );
      return false;
    }
    this.checked.set(path, identity);
    return true;
  }

  /** Downloads into `partial/<sha256>`, resuming what is there, then checks and publishes. */
  private async fetchArtifact(ref: ArtifactRef): Promise<void> {
    const partialDir = join(this.options.root, 'partial');
    await mkdir(partialDir, { recursive: true, mode: 0o700 });
    const partial = join(partialDir, ref.sha256);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
      const have = (await stat(partial).catch(() => undefined))?.size ?? 0;
      if (have > ref.bytes) await rm(partial, { force: true });
      else if (have < ref.bytes || ref.bytes === 0) {
        const ok = await this.download(ref, partial, have).catch((error: unknown) => {
          this.options.logger?.warn(
            { artifact: ref.sha256, attempt, err: error },
            'fetch cut short',
          );
          return false;
        });
        if (!ok) continue;
      }
      const got = await sha256OfFile(partial).catch(() => undefined);
      if (got?.sha256 === ref.sha256 && got.bytes === ref.bytes) {
        await mkdir(join(this.options.root, 'sha256'), { recursive: true, mode: MODES.dir });
        await publishIfAbsent(partial, this.store.path(ref.sha256));
        await rm(partial, { force: true });
        return;
      }
      this.options.logger?.warn(
        { artifact: ref.sha256, got: got?.sha256, bytes: got?.bytes },
        'fetched artifact refused: its bytes do not hash to its name; fetching it again',
      );
      await rm(partial, { force: true });
    }
    throw new HostError(
      `artifact ${ref.sha256} could not be fetched intact from the coordinator in ${MAX_ATTEMPTS} attempts`,
    );
  }

  /** One request: the rest of the artifact from `from` on (or all of it, if the answer is 200). */
  private async download(ref: ArtifactRef, partial: string, from: number): Promise<boolean> {
    const { api, nodeId } = this.coordinator(`artifact ${ref.sha256}`);
    const response = await api.open(
      'nodeArtifact',
      { params: { node: nodeId, digest: ref.sha256 } },
      { timeoutMs: 0, ...(from > 0 ? { headers: { range: `bytes=${from}-` } } : {}) },
    );
    if (!response.body) return from === ref.bytes;
    const resumed = response.status === 206;
    if (!resumed) await rm(partial, { force: true });
    await writeHashing(
      response.body as AsyncIterable<Uint8Array>,
      partial,
      0o600,
      ref.bytes - (resumed ? from : 0),
      resumed ? 'a' : 'wx',
    );
    return true;
  }
}
