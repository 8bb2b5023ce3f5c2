import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError } from '../../core/errors.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { SnapshotRef, VmSpec } from '../../ports/vmm.ts';
import { materializeMemory } from './diff-merge.ts';
import type { JailOwner } from './jail-files.ts';
import { stageFile } from './jail-files.ts';
import type { ApiRequest, ApiShapes } from './requests.ts';
import { snapshotLoadRequest } from './requests.ts';
import { VMSTATE_FILE } from './snapshot-files.ts';
import type { SnapshotMeta } from './snapshot-files.ts';
import type { PathPair, VmLayout } from './vm-layout.ts';
import { vmmFile } from './vm-layout.ts';

/** A diff chain merged into one file; it backs the restored VM's memory until it stops. */
export const RESTORE_MEMORY_FILE = 'restore-memory';

export interface SnapshotInputs {
  vmstate: PathPair;
  memory: PathPair;
}

export async function prepareSnapshotInputs(
  layout: VmLayout,
  snapshot: SnapshotRef,
  runner: ProcessRunner,
  owner: JailOwner | undefined,
  hostRunner: ProcessRunner = runner,
): Promise<SnapshotInputs> {
  const merged = join(layout.workDir, RESTORE_MEMORY_FILE);
  await rm(merged, { force: true });
  const memoryHost = await materializeMemory(snapshot, merged, runner);
  const vmstateHost = join(snapshot.dir, VMSTATE_FILE);
  const inputs = {
    vmstate: vmmFile(layout, vmstateHost, 'snapshot-in/vmstate'),
    memory: vmmFile(layout, memoryHost, 'snapshot-in/memory'),
  };
  if (owner) {
    await stageFile(vmstateHost, inputs.vmstate.host, owner, false, hostRunner);
    await stageFile(memoryHost, inputs.memory.host, owner, false, hostRunner);
  }
  return inputs;
}

export interface LoadPlan {
  request: ApiRequest;
  /** Host path of the vsock UDS the restored VMM binds. */
  guestSocket: string;
}

/**
 * The snapshot remembers the vsock UDS and taps of the VM it was taken from. Overrides are
 * sent only where they differ and the version supports them; otherwise the saved vsock path
 * is the one the restored VMM binds, and the handle says so.
 */
export function planLoad(
  layout: VmLayout,
  spec: VmSpec,
  meta: SnapshotMeta,
  inputs: SnapshotInputs,
  shapes: ApiShapes,
  trackDirtyPages: boolean,
): LoadPlan {
  const moveVsock = meta.vsockVmmPath !== layout.vsock.vmm && shapes.vsockOverride;
  const savedTaps = new Map(meta.taps.map((t) => [t.ifaceId, t.tap]));
  const tapOverrides = spec.nets
    .filter((n) => savedTaps.has(n.id) && savedTaps.get(n.id) !== n.tap)
    .map((n) => ({ ifaceId: n.id, tap: n.tap }));
  if (tapOverrides.length > 0 && !shapes.networkOverrides) {
    throw new ConflictError(
      `snapshot ${inputs.vmstate.host} was taken with other taps and this Firecracker cannot override them on restore (network_overrides needs 1.13+); reuse the same tap names`,
      { tapOverrides },
    );
  }
  const request = snapshotLoadRequest(
    {
      snapshotPath: inputs.vmstate.vmm,
      memPath: inputs.memory.vmm,
      trackDirtyPages,
      ...(moveVsock ? { vsockUdsPath: layout.vsock.vmm } : {}),
      tapOverrides,
    },
    shapes,
  );
  const savedHost =
    layout.jailRoot === undefined ? meta.vsockVmmPath : join(layout.jailRoot, meta.vsockVmmPath);
  return { request, guestSocket: moveVsock ? layout.vsock.host : savedHost };
}
