import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { VmSpec } from '../../ports/vmm.ts';
import type { FirecrackerApiClient } from './api-client.ts';
import type { JailOwner } from './jail-files.ts';
import { stageFile } from './jail-files.ts';
import type { ApiRequest, ApiShapes } from './requests.ts';
import {
  actionRequest,
  balloonRequest,
  bootSourceRequest,
  driveRequest,
  machineConfigRequest,
  networkInterfaceRequest,
  vsockRequest,
} from './requests.ts';
import type { PathPair, VmLayout } from './vm-layout.ts';
import { vmmFile } from './vm-layout.ts';

export interface VmmFiles {
  kernel: PathPair;
  initrd: PathPair | undefined;
  drives: { id: string; readOnly: boolean; file: PathPair }[];
}

/** Where the VMM finds each file of the spec; drives get stable names so snapshots find them again. */
export function vmmFiles(layout: VmLayout, spec: VmSpec): VmmFiles {
  return {
    kernel: vmmFile(layout, spec.kernelPath, 'boot/vmlinux'),
    initrd:
      spec.initrdPath === undefined ? undefined : vmmFile(layout, spec.initrdPath, 'boot/initrd'),
    drives: spec.drives.map((d) => ({
      id: d.id,
      readOnly: d.readOnly,
      file: vmmFile(layout, d.path, `drives/${d.id}.img`),
    })),
  };
}

/** Hard-links (from other filesystems: bind-mounts) what the VMM opens into the chroot. */
export async function stageIntoJail(
  spec: VmSpec,
  files: VmmFiles,
  owner: JailOwner,
  opts: { boot: boolean; runner: ProcessRunner },
): Promise<void> {
  const { runner } = opts;
  if (opts.boot) {
    await stageFile(spec.kernelPath, files.kernel.host, owner, false, runner);
    if (spec.initrdPath !== undefined && files.initrd) {
      await stageFile(spec.initrdPath, files.initrd.host, owner, false, runner);
    }
  }
  for (const [index, drive] of spec.drives.entries()) {
    const staged = files.drives[index];
    if (staged) await stageFile(drive.path, staged.file.host, owner, !drive.readOnly, runner);
  }
}

export interface BootInput {
  spec: VmSpec;
  files: VmmFiles;
  vsockUds: string;
  guestCid: number;
  trackDirtyPages: boolean;
  shapes: ApiShapes;
  /** Add the balloon device (requests.ts balloonRequest); default on. */
  balloon?: boolean;
}

/** Guest memory statistics every 5 s: cheap, and what `GET /balloon/statistics` answers. */
const BALLOON_STATS_INTERVAL_S = 5;

/** Every pre-boot request, in the order Firecracker needs them, ending with InstanceStart. */
export function bootRequests(input: BootInput): ApiRequest[] {
  const { spec, files, shapes } = input;
  const machine = {
    vcpus: spec.vcpus,
    memMib: spec.memMib,
    trackDirtyPages: input.trackDirtyPages,
  };
  const boot = {
    kernelPath: files.kernel.vmm,
    cmdline: spec.cmdline,
    ...(files.initrd ? { initrdPath: files.initrd.vmm } : {}),
  };
  return [
    machineConfigRequest(machine, shapes),
    bootSourceRequest(boot),
    ...files.drives.map((d) => driveRequest({ id: d.id, path: d.file.vmm, readOnly: d.readOnly })),
    ...spec.nets.map((n) => networkInterfaceRequest({ id: n.id, tap: n.tap, mac: n.mac })),
    vsockRequest({ guestCid: input.guestCid, udsPath: input.vsockUds }, shapes),
    ...(input.balloon === false
      ? []
      : [balloonRequest({ statsPollingIntervalS: BALLOON_STATS_INTERVAL_S }, shapes)]),
    actionRequest('InstanceStart'),
  ];
}

export async function sendAll(client: FirecrackerApiClient, requests: ApiRequest[]): Promise<void> {
  for (const request of requests) await client.call(request.method, request.path, request.body);
}
