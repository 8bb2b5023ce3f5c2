/**
 * The fence watchdog (core/fence-watch.ts): a process of its own that outlives the agent it
 * watches. While that agent runs it only looks; once the agent is gone and its lease has run
 * out, it pauses the running instances the coordinator may re-place, so a dead agent leaves
 * no second copy running beside the one booted elsewhere, then exits.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../../core/errors.ts';
import {
  decideWatch,
  fenceTargets,
  type FenceCandidate,
  type ProcessId,
} from '../../core/fence-watch.ts';
import { nodeDesiredSchema, signedEnvelopeSchema } from '../../contract/desired.ts';
import { isAlive } from '../../drivers/process/process-control.ts';
import { pauseByHandle } from '../../drivers/vmm-pause.ts';
import type { Logger } from '../../ports/logger.ts';
import { documentInstances, instanceLabel, refOf } from '../reconcile/document-instances.ts';
import { agentLayout } from '../runtime/layout.ts';
import { openAgentDb } from '../state/open-agent-db.ts';
import { leaseFilePath, readLeaseFile } from './lease-file.ts';

export interface WatchdogOptions {
  dataDir: string;
  watching: ProcessId;
  logger: Logger;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface WatchdogEnd {
  why: string;
  paused: string[];
  failed: string[];
}

const pause = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

export async function runFenceWatchdog(options: WatchdogOptions): Promise<WatchdogEnd> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? pause;
  const path = leaseFilePath(options.dataDir);
  for (;;) {
    const lease = await readLeaseFile(path);
    const named = lease?.agent ?? options.watching;
    const decision = decideWatch({
      now: now(),
      watching: options.watching,
      lease,
      agentAlive: await isAlive(named.pid, named.startTime),
    });
    if (decision.kind === 'exit') return { why: decision.why, paused: [], failed: [] };
    if (decision.kind === 'wait') {
      await sleep(decision.ms);
      continue;
    }
    options.logger.warn(
      { agent: options.watching.pid, expiresAt: lease?.expiresAt },
      'the agent is gone and its lease ran out: pausing its re-placeable instances',
    );
    return { why: 'fenced', ...(await fenceNow(options.dataDir, options.logger)) };
  }
}

/** Pauses the dead agent's running re-placeable VMMs, from its records and last document. */
export async function fenceNow(
  dataDir: string,
  logger: Logger,
): Promise<{ paused: string[]; failed: string[] }> {
  const replaceable = await replaceableByLabel(dataDir, logger);
  const db = await openAgentDb(agentLayout(dataDir).dbFile);
  try {
    const records = await db.vms.list();
    const candidates: FenceCandidate[] = records.map((r) => ({
      label: instanceLabel(refOf(r)),
      status: r.status,
      hasVmm: r.handle !== null,
      replaceable: replaceable?.get(instanceLabel(refOf(r))),
    }));
    const targets = new Set(fenceTargets(candidates));
    const paused: string[] = [];
    const failed: string[] = [];
    for (const record of records) {
      const label = instanceLabel(refOf(record));
      if (!targets.has(label) || !record.handle) continue;
      try {
        const done = await pauseByHandle(record.handle);
        if (done === 'paused') paused.push(label);
        logger.warn({ instance: label, pid: record.handle.pid, done }, 'fenced');
      } catch (error) {
        failed.push(label);
        logger.error({ instance: label, error: errorMessage(error) }, 'could not pause');
      }
    }
    return { paused, failed };
  } finally {
    await db.close();
  }
}

/**
 * Whether each instance of the agent's last document may be re-placed. Without a readable
 * document nothing is known to be pinned, so every running instance is paused: a pinned one
 * then waits for its agent, which is what a pinned pool accepts anyway.
 */
async function replaceableByLabel(
  dataDir: string,
  logger: Logger,
): Promise<Map<string, boolean> | undefined> {
  try {
    const envelope = signedEnvelopeSchema.parse(
      JSON.parse(await readFile(join(dataDir, 'desired.json'), 'utf8')),
    );
    const document = nodeDesiredSchema.parse(JSON.parse(envelope.payload));
    return new Map([...documentInstances(document)].map(([label, n]) => [label, n.replaceable]));
  } catch (error) {
    logger.warn({ error: errorMessage(error) }, 'no readable desired document; fencing all');
    return undefined;
  }
}
