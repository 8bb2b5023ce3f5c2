import { copyFile, rename, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ConflictError } from '../../core/errors.ts';
import type { SnapshotRef, VmHandle } from '../../ports/vmm.ts';
import type { FirecrackerApiClient } from './api-client.ts';
import type { FirecrackerVersion } from './firecracker-version.ts';
import { formatVersion } from './firecracker-version.ts';
import type { JailOwner } from './jail-files.ts';
import { createOwnedDir } from './jail-files.ts';
import { snapshotCreateRequest } from './requests.ts';
import {
  MEMORY_FILE,
  VMSTATE_FILE,
  abandonSnapshotDir,
  beginSnapshotDir,
  commitSnapshotDir,
  lastSnapshotDir,
  recordLastSnapshot,
  snapshotRefFromDir,
} from './snapshot-files.ts';
import type { SnapshotMeta } from './snapshot-files.ts';
import type { VmLayout } from './vm-layout.ts';
import { snapshotStage } from './vm-layout.ts';

export interface TakeSnapshotInput {
  vm: VmHandle;
  layout: VmLayout;
  client: FirecrackerApiClient;
  version: FirecrackerVersion;
  dir: string;
  kind: 'full' | 'diff';
  /** Set in jailer mode: the staging dir must belong to the jail user. */
  owner: JailOwner | undefined;
}

/** Creates the snapshot under a temporary name, then renames it to `dir`. The VM stays paused. */
export async function takeSnapshot(input: TakeSnapshotInput): Promise<SnapshotRef> {
  const baseDir = input.kind === 'diff' ? await requireBase(input.vm) : undefined;
  const tmp = await beginSnapshotDir(input.dir);
  const stage = snapshotStage(input.layout, tmp);
  try {
    if (input.owner) {
      await rm(stage.host, { recursive: true, force: true });
      await createOwnedDir(stage.host, input.owner);
    }
    const request = snapshotCreateRequest({
      kind: input.kind,
      snapshotPath: join(stage.vmm, VMSTATE_FILE),
      memPath: join(stage.vmm, MEMORY_FILE),
    });
    await input.client.call(request.method, request.path, request.body);
    if (stage.host !== tmp) await moveStaged(stage.host, tmp);
    await commitSnapshotDir(tmp, input.dir, await metaFor(input, baseDir));
  } catch (error) {
    await abandonSnapshotDir(tmp);
    throw error;
  } finally {
    if (stage.host !== tmp) await rm(stage.host, { recursive: true, force: true });
  }
  await recordLastSnapshot(input.vm.workDir, input.dir);
  return snapshotRefFromDir(input.dir);
}

async function requireBase(vm: VmHandle): Promise<string> {
  const base = await lastSnapshotDir(vm.workDir);
  if (base !== undefined) return base;
  throw new ConflictError(
    `VM '${vm.key}' has no snapshot to base a diff on; take a full snapshot first`,
    { key: vm.key },
  );
}

async function moveStaged(from: string, to: string): Promise<void> {
  for (const name of [VMSTATE_FILE, MEMORY_FILE]) {
    await rename(join(from, name), join(to, name)).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EXDEV') throw error;
      await copyFile(join(from, name), join(to, name));
    });
  }
}

async function metaFor(
  input: TakeSnapshotInput,
  baseDir: string | undefined,
): Promise<SnapshotMeta> {
  return {
    kind: input.kind,
    ...(baseDir === undefined ? {} : { baseDir }),
    firecrackerVersion: formatVersion(input.version),
    vsockVmmPath: vmmPathOf(input.layout, input.vm.guestSocket),
    taps: await tapsOf(input.client),
    createdAt: new Date().toISOString(),
  };
}

function vmmPathOf(layout: VmLayout, hostPath: string): string {
  return layout.jailRoot === undefined ? hostPath : `/${relative(layout.jailRoot, hostPath)}`;
}

/** The taps saved in the snapshot, so a restore knows which ones it must override. */
async function tapsOf(client: FirecrackerApiClient): Promise<SnapshotMeta['taps']> {
  const config = await client.get('/vm/config').catch(() => undefined);
  const nets = (config as { 'network-interfaces'?: unknown } | undefined)?.['network-interfaces'];
  if (!Array.isArray(nets)) return [];
  return nets.flatMap((n: { iface_id?: unknown; host_dev_name?: unknown }) =>
    typeof n.iface_id === 'string' && typeof n.host_dev_name === 'string'
      ? [{ ifaceId: n.iface_id, tap: n.host_dev_name }]
      : [],
  );
}
