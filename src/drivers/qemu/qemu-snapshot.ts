/**
 * Sleep and wake for QEMU: the VM state goes through QEMU's migration stream into a file and
 * comes back with `-incoming defer` and `migrate-incoming`. QEMU 7.2 has no `file:` URI, and
 * a confined QEMU may neither open files nor spawn `exec:cat`: the stream goes out over a
 * unix socket the driver listens on (migration-sink.ts) and comes back in as a descriptor
 * the driver opened and QEMU inherited at launch (`fd:N`). Zero pages are skipped, so a
 * 256 MiB guest saves to ~40-70 MB.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errorMessage, HostError, ValidationError } from '../../core/errors.ts';
import type { Clock } from '../../ports/clock.ts';
import type { SnapshotRef, VmIdentity, VmSpec } from '../../ports/vmm.ts';
import { replaceDir } from '../dev-image/cache-dir.ts';
import { AbortWait, waitUntil } from '../process/wait-until.ts';
import { listenForMigration } from './migration-sink.ts';
import type { Accel } from './qemu-args.ts';
import type { QmpClient } from './qmp-client.ts';

export const SNAPSHOT_FORMAT = 'mvm-qemu-snapshot/1';
const STATE_FILE = 'vm.state';
const META_FILE = 'snapshot.json';
/** The default 128 MiB/s would throttle a 70 MB save to ~0.5 s; the file is local. */
const MAX_BANDWIDTH = 64 * 1024 ** 3;

/** What a restore must match: the same machine shape and the same accelerator. */
export interface SnapshotMeta {
  format: typeof SNAPSHOT_FORMAT;
  accel: Accel;
  tscKhz?: number;
  memMib: number;
  vcpus: number;
  /**
   * The VM has the free-page-reporting balloon (qemu-balloon.ts). Absent in snapshots taken
   * before the driver had it: those restore without one, as they were saved.
   */
  balloon?: boolean;
}

/** How long a migration stream may take, measured on the driver's clock. */
export interface MigrationWait {
  clock: Clock;
  timeoutMs: number;
}

interface MigrateInfo {
  status?: string;
  'error-desc'?: string;
}

/** Where QEMU sends the stream: the socket as the driver sees it, and as QEMU (maybe chrooted) does. */
export interface MigrationTarget {
  hostSocket: string;
  vmmSocket: string;
  /** Only this user (QEMU's, when confined) and root may connect. */
  owner?: VmIdentity;
}

/** Saves a paused VM into `dir` atomically: staging directory, fsync, rename. */
export async function saveSnapshot(
  qmp: QmpClient,
  dir: string,
  meta: SnapshotMeta,
  wait: MigrationWait,
  target: MigrationTarget,
): Promise<SnapshotRef> {
  const staging = join(dirname(dir), `.${basename(dir)}.tmp-${randomBytes(4).toString('hex')}`);
  await mkdir(staging, { recursive: true });
  try {
    const stateFile = join(staging, STATE_FILE);
    await migrateInto(qmp, stateFile, wait, target);
    await fsyncFile(stateFile);
    await writeFile(join(staging, META_FILE), `${JSON.stringify(meta, null, 2)}\n`);
    await fsyncFile(join(staging, META_FILE));
    await fsyncFile(staging);
    await replaceDir(staging, dir);
    await fsyncFile(dirname(dir));
    const { size } = await stat(join(dir, STATE_FILE));
    return { dir, kind: 'full', sizeBytes: size };
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Streams the paused VM's state into `stateFile`. A failed write (a full disk) fails the
 * migration too; it is reported as the cause, once QEMU has given up, so the VM can be resumed.
 */
async function migrateInto(
  qmp: QmpClient,
  stateFile: string,
  wait: MigrationWait,
  target: MigrationTarget,
): Promise<void> {
  await mkdir(dirname(target.hostSocket), { recursive: true });
  const sink = await listenForMigration(target.hostSocket, stateFile, target.owner);
  const written = sink.done.then(
    () => undefined,
    (error: unknown) => error,
  );
  try {
    await qmp.execute('migrate-set-parameters', { 'max-bandwidth': MAX_BANDWIDTH });
    await qmp.execute('migrate', { uri: `unix:${target.vmmSocket}` });
    await waitForMigration(qmp, wait, `saving VM state to ${stateFile}`).catch(async (error) => {
      throw (await written) ?? error;
    });
    await sink.done;
  } finally {
    await sink.close();
  }
}

/** The state file a snapshot's wake feeds QEMU (opened by the driver, inherited by QEMU). */
export function snapshotStateFile(dir: string): string {
  return join(dir, STATE_FILE);
}

/** Feeds the inherited state descriptor into a QEMU started with `-incoming defer`; leaves it paused. */
export async function loadSnapshot(
  qmp: QmpClient,
  dir: string,
  stateFd: number,
  wait: MigrationWait,
): Promise<void> {
  await qmp.execute('migrate-incoming', { uri: `fd:${stateFd}` });
  await waitForMigration(qmp, wait, `loading VM state from ${snapshotStateFile(dir)}`);
}

export async function readSnapshotMeta(dir: string): Promise<SnapshotMeta> {
  const text = await readFile(join(dir, META_FILE), 'utf8').catch(() => undefined);
  const meta = text === undefined ? undefined : (JSON.parse(text) as Partial<SnapshotMeta>);
  if (meta?.format !== SNAPSHOT_FORMAT || meta.accel === undefined) {
    throw new ValidationError(
      `'${dir}' is not a QEMU snapshot made by mvm (no valid ${META_FILE})`,
    );
  }
  return meta as SnapshotMeta;
}

export function assertCompatible(spec: VmSpec, meta: SnapshotMeta, accel: Accel): void {
  const problems: string[] = [];
  if (meta.accel !== accel)
    problems.push(`snapshot was taken under ${meta.accel}, this driver runs ${accel}`);
  if (meta.memMib !== spec.memMib)
    problems.push(`memMib ${spec.memMib} != snapshot's ${meta.memMib}`);
  if (meta.vcpus !== spec.vcpus) problems.push(`vcpus ${spec.vcpus} != snapshot's ${meta.vcpus}`);
  if (problems.length > 0) {
    throw new ValidationError(`cannot restore '${spec.key}' from this snapshot`, problems);
  }
}

async function waitForMigration(qmp: QmpClient, wait: MigrationWait, what: string): Promise<void> {
  await waitUntil(
    async () => {
      // A QEMU whose incoming state is corrupt exits: its QMP socket closes, and waiting on
      // for the timeout (120 s) would only delay the failure a wake or a clone falls back on.
      const info = await qmp.execute<MigrateInfo>('query-migrate').catch((error: unknown) => {
        if (!qmp.closed) throw error;
        throw new AbortWait(new HostError(`${what} failed: QEMU exited (${errorMessage(error)})`));
      });
      if (info.status === 'completed') return true;
      if (info.status === 'failed' || info.status === 'cancelled') {
        const why = info['error-desc'] ?? info.status;
        throw new AbortWait(new HostError(`${what} failed: ${why}`));
      }
      return undefined;
    },
    // A wake waits for the load: polled finely, as a query costs QEMU a few microseconds.
    { ...wait, intervalMs: 5, what },
  );
}

async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
