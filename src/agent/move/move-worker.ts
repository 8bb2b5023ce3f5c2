import { createReadStream } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import { isMvmError } from '../../core/errors.ts';
import { bundlePartSchema, type BundleManifest } from '../../contract/move-bundle.ts';
import type { InstanceMoveView, MoveReport } from '../../contract/moves.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import type { Logger } from '../../ports/logger.ts';
import type { Clock } from '../../ports/clock.ts';
import { abortableSleep } from '../../drivers/process/wait-until.ts';
import type { RuntimeDeps } from '../runtime/deps.ts';
import type { InstanceRef, InstanceRuntime } from '../runtime/instance-runtime.ts';
import { partFile } from '../../drivers/move-bundle/bundle-export.ts';
import { receivedOf } from '../../drivers/move-bundle/bundle-receive.ts';
import { DEFAULT_MOVE_HOLD_SECS } from '../agent-settings.ts';
import { transferBundle } from './bundle-transfer.ts';
import {
  heldLabels,
  NO_INCOMING,
  readIncomingMark,
  writeIncomingMark,
  type IncomingMark,
} from './incoming-mark.ts';
import { exportInstance, importInstance, movedBody } from './instance-bundle.ts';

export interface MoveWorkerOptions {
  api: Pick<ApiClient, 'call' | 'open'>;
  nodeId: string;
  deps: RuntimeDeps;
  runtime: InstanceRuntime;
  /** Where bundles are written (out/<move>) and received (in/<move>), and incoming.json kept. */
  workDir: string;
  logger: Logger;
  /**
   * How long an instance handed over here stays protected from the reconciler after its move
   * is done, while this node's document naming it is on its way; default 60 s
   * (`MVM_MOVE_HOLD_SECS`, agent-settings.ts).
   */
  handOverHoldMs?: number;
}

const HAND_OVER_HOLD_MS = DEFAULT_MOVE_HOLD_SECS * 1000;

const refOf = (m: InstanceMoveView): InstanceRef => ({
  tenantId: m.tenantId,
  poolId: m.poolId,
  instanceId: m.instanceId,
});
const labelOf = (m: { tenantId: string; poolId: string; instanceId: string }) =>
  `${m.tenantId}/${m.poolId}/${m.instanceId}`;

function manifestOf(m: InstanceMoveView): BundleManifest {
  return {
    format: 'mvm-move-bundle/1',
    compression: 'gzip',
    parts: (m.parts ?? []).map((p) => bundlePartSchema.parse(p)),
  };
}

/** The relay answered that a part is not held whole yet (its 409 asks to retry). */
const notUploadedYet = (error: unknown) =>
  isMvmError(error) &&
  error.code === 'conflict' &&
  typeof error.details?.retryAfterSeconds === 'number';

/**
 * This node's part in the moves it takes part in (docs/moves.md), one step per pass, every
 * step resumable from the move's record and the files on disk. As source: once the instance
 * sleeps, export it, report the manifest, upload each part to the coordinator's relay from the
 * byte it holds. As target: fetch each part from the relay from the byte held here (a part
 * that fails its sha256 is reported and fetched again), import it, report it imported: the
 * coordinator then hands the instance over. `incoming` names the instances this node imports
 * and does not own yet (and those just handed over, for `handOverHoldMs`), which its
 * reconciler must leave alone; it is kept in `<workDir>/incoming.json`, so a restarted agent
 * reads it back (`restore`) before its first pass instead of dropping an imported copy.
 */
export class MoveWorker {
  /** Labels of instances being imported here, not yet this node's. */
  readonly incoming = new Set<string>();
  /** Parts the relay holds whole, by move. */
  private readonly uploaded = new Set<string>();
  private mark: IncomingMark = NO_INCOMING;
  private restoring: Promise<void> | undefined;

  constructor(private readonly o: MoveWorkerOptions) {}

  /** Where the incoming mark is kept. */
  get markFile(): string {
    return join(this.o.workDir, 'incoming.json');
  }

  /**
   * Reads back the incoming mark a previous run left, once (every call answers the same read):
   * await it before the reconciler's first pass. A damaged mark is refused (ValidationError)
   * rather than read as empty.
   */
  restored(): Promise<void> {
    this.restoring ??= readIncomingMark(this.markFile).then((mark) => {
      this.mark = mark;
      this.setIncoming(heldLabels(mark, this.o.deps.clock.now()));
      this.o.deps.wake?.leaving?.(new Set(mark.outgoing));
    });
    return this.restoring;
  }

  private setIncoming(labels: ReadonlySet<string>): void {
    this.incoming.clear();
    for (const label of labels) this.incoming.add(label);
  }

  /** Keeps the mark on disk and `incoming` in step; writes only when it changed. */
  private async keepMark(next: IncomingMark): Promise<void> {
    const now = this.o.deps.clock.now();
    // A hold ends with its time, or once the instance leaves this node again (a new move).
    const leaving = new Set(next.outgoing);
    const handedOver = Object.fromEntries(
      Object.entries(next.handedOver).filter(
        ([label, until]) => Date.parse(until) > now.getTime() && !leaving.has(label),
      ),
    );
    const pruned: IncomingMark = {
      importing: [...new Set(next.importing)].sort(),
      handedOver,
      outgoing: [...new Set(next.outgoing)].sort(),
    };
    if (!isDeepStrictEqual(pruned, this.mark)) {
      await writeIncomingMark(this.markFile, pruned);
      this.mark = pruned;
    }
    this.setIncoming(heldLabels(this.mark, now));
    this.o.deps.wake?.leaving?.(new Set(this.mark.outgoing));
  }

  private dir(kind: 'out' | 'in', m: { id: string }) {
    return join(this.o.workDir, kind, m.id);
  }

  /** One pass over the moves under way; a failed step is logged and retried next pass. */
  async pass(): Promise<InstanceMoveView[]> {
    await this.restored();
    const moves = await this.o.api.call('nodeMoves', { params: { node: this.o.nodeId } });
    const importing = moves.filter((m) => m.targetNode === this.o.nodeId).map(labelOf);
    // Leaving instances are not woken here by a connection (the bundle would go stale).
    const outgoing = moves.filter((m) => m.sourceNode === this.o.nodeId).map(labelOf);
    await this.keepMark({ ...this.mark, importing, outgoing });
    for (const m of moves) {
      try {
        if (m.sourceNode === this.o.nodeId) await this.asSource(m);
        else await this.asTarget(m);
      } catch (error) {
        this.o.logger.warn({ err: error, move: m.id, step: m.step }, 'move step failed; retried');
      }
    }
    await this.dropFinished(moves);
    return moves;
  }

  private report(m: InstanceMoveView, body: MoveReport) {
    return this.o.api.call('reportMove', { params: { node: this.o.nodeId, move: m.id }, body });
  }

  private async asSource(move: InstanceMoveView): Promise<void> {
    let m = move;
    if (m.step === 'requested') {
      const record = (await this.o.runtime.list()).find((r) => labelOf(r) === labelOf(m));
      const status = record?.status;
      if (status !== 'sleeping' && status !== 'stopped') return; // its sleep comes first
      m = await this.report(m, { kind: 'start' });
    }
    if (m.step === 'exporting') {
      const manifest = await exportInstance(
        this.o.deps,
        this.o.runtime,
        refOf(m),
        this.dir('out', m),
      );
      m = await this.report(m, { kind: 'exported', manifest });
    }
    if (m.step === 'transferring') await this.upload(m);
  }

  private async upload(m: InstanceMoveView): Promise<void> {
    for (const part of m.parts ?? []) {
      const key = `${m.id}/${part.name}`;
      if (this.uploaded.has(key)) continue;
      let offset = 0;
      for (let tries = 0; tries < 3; tries += 1) {
        try {
          const file = partFile(this.dir('out', m), part.name);
          const body = Readable.toWeb(
            createReadStream(file, { start: offset }),
          ) as ReadableStream<Uint8Array>;
          const answer = await this.o.api.open(
            'putMovePart',
            { params: { node: this.o.nodeId, move: m.id, part: part.name }, query: { offset } },
            { body, timeoutMs: 0 },
          );
          const held = (await answer.json()) as { whole: boolean };
          if (held.whole) this.uploaded.add(key);
          break;
        } catch (error) {
          const details = isMvmError(error) ? error.details : undefined;
          if (details?.waitForTarget === true) {
            // The relay is full of parts the target has not fetched yet: a later pass goes on.
            this.o.logger.debug({ move: m.id, part: part.name }, 'relay full; upload waits');
            return;
          }
          const resumeAt = details?.resumeAt;
          if (typeof resumeAt !== 'number') throw error;
          offset = resumeAt;
        }
      }
    }
  }

  private async asTarget(move: InstanceMoveView): Promise<void> {
    let m = move;
    const inbox = this.dir('in', m);
    const manifest = manifestOf(m);
    if (m.step === 'transferring') {
      const opener = async (name: string, offset: number) => {
        const answer = await this.o.api.open(
          'getMovePart',
          { params: { node: this.o.nodeId, move: m.id, part: name } },
          { headers: { range: `bytes=${offset}-` }, timeoutMs: 0 },
        );
        if (!answer.body) throw new Error(`part '${name}' came without a body`);
        return Readable.fromWeb(answer.body as Parameters<typeof Readable.fromWeb>[0]);
      };
      const transfer = await transferBundle(manifest, inbox, opener).catch(
        async (error: unknown) => {
          // Whatever arrived counts: the record resumes there.
          await this.reportReceived(m, manifest, inbox);
          if (!notUploadedYet(error)) throw error;
          // The source has not uploaded the next part yet (or waits for room): a later pass.
          this.o.logger.debug({ move: m.id }, 'part not on the relay yet; fetch waits');
          return undefined;
        },
      );
      if (!transfer) return;
      for (const part of transfer.refetched) {
        await this.report(m, {
          kind: 'part-refused',
          part,
          reason: 'did not match its sha256; fetched again',
        });
      }
      m = await this.reportReceived(m, manifest, inbox);
    }
    if (m.step === 'importing') {
      const ref = refOf(m);
      const record = (await this.o.runtime.list()).find((r) => labelOf(r) === labelOf(m));
      if (!record || record.status === 'created') {
        const body = await movedBody(inbox, manifest);
        if (!body) throw new Error(`move ${m.id} carries no instance spec`);
        await importInstance(this.o.deps, this.o.runtime, ref, body, inbox, manifest);
      }
      const done = await this.report(m, { kind: 'imported' });
      if (done.step === 'done') await this.heldAfterHandOver(labelOf(m));
      await rm(inbox, { recursive: true, force: true });
    }
  }

  /** The instance is this node's now; held until the document naming it has arrived. */
  private async heldAfterHandOver(label: string): Promise<void> {
    const holdMs = this.o.handOverHoldMs ?? HAND_OVER_HOLD_MS;
    const until = new Date(this.o.deps.clock.now().getTime() + holdMs).toISOString();
    await this.keepMark({
      ...this.mark,
      importing: this.mark.importing.filter((l) => l !== label),
      handedOver: { ...this.mark.handedOver, [label]: until },
    });
  }

  private async reportReceived(
    m: InstanceMoveView,
    manifest: BundleManifest,
    inbox: string,
  ): Promise<InstanceMoveView> {
    let latest = m;
    const received = await receivedOf(inbox, manifest);
    for (const [part, bytes] of Object.entries(received)) {
      if (bytes > (latest.received[part] ?? 0))
        latest = await this.report(latest, { kind: 'received', part, bytes });
    }
    return latest;
  }

  /** Bundles of moves no longer under way here are dropped (the record is the truth). */
  private async dropFinished(moves: readonly InstanceMoveView[]): Promise<void> {
    const active = new Set(moves.map((m) => m.id));
    for (const kind of ['out', 'in'] as const) {
      const names = await readdir(join(this.o.workDir, kind)).catch(() => [] as string[]);
      for (const name of names) {
        if (!active.has(name))
          await rm(join(this.o.workDir, kind, name), { recursive: true, force: true });
      }
    }
  }
}

/**
 * Runs the worker's passes every `everyMs` (default 2 s) until `signal` aborts; `done` resolves
 * once the last pass ended. A pass that fails (coordinator away) is logged and tried again.
 */
export function keepMoving(
  worker: MoveWorker,
  options: { clock: Clock; signal: AbortSignal; logger: Logger; everyMs?: number },
): { done: Promise<void> } {
  const loop = async () => {
    while (!options.signal.aborted) {
      try {
        await worker.pass();
      } catch (error) {
        options.logger.debug({ err: error }, 'moves not read from the coordinator; retrying');
      }
      await abortableSleep(options.clock, options.everyMs ?? 2_000, options.signal).catch(
        () => undefined,
      );
    }
  };
  return { done: loop() };
}
