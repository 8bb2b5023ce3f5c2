/**
 * Pure builders for every request the Firecracker driver sends. Field names follow the
 * detected Firecracker version; the contract test validates them against the v1.16.1 spec.
 */
import type { FirecrackerVersion } from './firecracker-version.ts';
import { versionAtLeast } from './firecracker-version.ts';

export interface ApiRequest {
  method: 'PUT' | 'PATCH';
  path: string;
  body: Record<string, unknown>;
}

/** Request shapes that changed across Firecracker releases (see its CHANGELOG). */
export interface ApiShapes {
  /** Before 1.0 `machine-config` required `ht_enabled` (renamed `smt`, optional, in 1.0). */
  htEnabled: boolean;
  /** Before 1.0 `vsock_id` was required; 1.0 deprecated it. */
  vsockId: boolean;
  /** `mem_backend` on snapshot load arrived in 1.1; older releases only know `mem_file_path`. */
  memBackend: boolean;
  /** 1.13 renamed snapshot load's `enable_diff_snapshots` to `track_dirty_pages`. */
  loadTrackDirtyPages: boolean;
  /** Snapshot load can re-point taps (`network_overrides`, 1.13). */
  networkOverrides: boolean;
  /** Snapshot load can move the vsock UDS (`vsock_override`, in the 1.16 spec). */
  vsockOverride: boolean;
  /**
   * The balloon takes `free_page_reporting` (in the 1.16 spec; 1.0 knows only `amount_mib`,
   * `deflate_on_oom` and `stats_polling_interval_s`). Gated at 1.14, the release the driver
   * treats as the first with it; older releases get the balloon without reporting.
   */
  balloonFreePageReporting: boolean;
}

export function apiShapesFor(version: FirecrackerVersion): ApiShapes {
  return {
    htEnabled: !versionAtLeast(version, 1, 0),
    vsockId: !versionAtLeast(version, 1, 0),
    memBackend: versionAtLeast(version, 1, 1),
    loadTrackDirtyPages: versionAtLeast(version, 1, 13),
    networkOverrides: versionAtLeast(version, 1, 13),
    // Conservative: only used when the restore really needs a new path, and known in 1.16.
    vsockOverride: versionAtLeast(version, 1, 15),
    balloonFreePageReporting: versionAtLeast(version, 1, 14),
  };
}

export interface MachineConfigInput {
  vcpus: number;
  memMib: number;
  /** Needed for diff snapshots. */
  trackDirtyPages: boolean;
}

export function machineConfigRequest(input: MachineConfigInput, shapes: ApiShapes): ApiRequest {
  const body: Record<string, unknown> = {
    vcpu_count: input.vcpus,
    mem_size_mib: input.memMib,
    track_dirty_pages: input.trackDirtyPages,
  };
  if (shapes.htEnabled) body.ht_enabled = false;
  return { method: 'PUT', path: '/machine-config', body };
}

export interface BootSourceInput {
  kernelPath: string;
  cmdline: string;
  initrdPath?: string;
}

export function bootSourceRequest(input: BootSourceInput): ApiRequest {
  const body: Record<string, unknown> = {
    kernel_image_path: input.kernelPath,
    boot_args: input.cmdline,
  };
  if (input.initrdPath !== undefined) body.initrd_path = input.initrdPath;
  return { method: 'PUT', path: '/boot-source', body };
}

export interface DriveInput {
  id: string;
  path: string;
  readOnly: boolean;
}

/**
 * Firecracker refuses resource ids other than `[A-Za-z0-9_]+` ("API Resource IDs can only
 * contain alphanumeric characters and underscores"); mvm's drive names use dashes (`mvm-init`).
 */
export function firecrackerResourceId(id: string): string {
  return id.replace(/[^A-Za-z0-9_]/g, '_');
}

/**
 * `is_root_device` stays false for every drive: Firecracker would move a root device to vda
 * and append `root=` to the cmdline, while the port promises attach order and the spec's
 * own cmdline.
 */
export function driveRequest(input: DriveInput): ApiRequest {
  const id = firecrackerResourceId(input.id);
  return {
    method: 'PUT',
    path: `/drives/${id}`,
    body: {
      drive_id: id,
      path_on_host: input.path,
      is_root_device: false,
      is_read_only: input.readOnly,
    },
  };
}

export interface NetworkInterfaceInput {
  id: string;
  tap: string;
  mac: string;
}

export function networkInterfaceRequest(input: NetworkInterfaceInput): ApiRequest {
  return {
    method: 'PUT',
    path: `/network-interfaces/${encodeURIComponent(input.id)}`,
    body: { iface_id: input.id, host_dev_name: input.tap, guest_mac: input.mac },
  };
}

export interface VsockInput {
  guestCid: number;
  udsPath: string;
}

export function vsockRequest(input: VsockInput, shapes: ApiShapes): ApiRequest {
  const body: Record<string, unknown> = { guest_cid: input.guestCid, uds_path: input.udsPath };
  if (shapes.vsockId) body.vsock_id = 'vsock0';
  return { method: 'PUT', path: '/vsock', body };
}

export interface BalloonInput {
  /** How often the guest's memory statistics refresh (`GET /balloon/statistics`); 0: never. */
  statsPollingIntervalS: number;
}

/**
 * The balloon device, configured before boot (from 1.0). It is never inflated (`amount_mib`
 * 0): like the QEMU driver's, it is there so a guest can hand back memory it does not use
 * (free-page reporting, where the release has it), and `deflate_on_oom` so an operator's
 * inflation never OOM-kills a guest. A snapshot carries the device, so a restore needs no request.
 */
export function balloonRequest(input: BalloonInput, shapes: ApiShapes): ApiRequest {
  const body: Record<string, unknown> = {
    amount_mib: 0,
    deflate_on_oom: true,
    stats_polling_interval_s: input.statsPollingIntervalS,
  };
  if (shapes.balloonFreePageReporting) body.free_page_reporting = true;
  return { method: 'PUT', path: '/balloon', body };
}

export type LogLevel = 'Error' | 'Warning' | 'Info' | 'Debug';

export function loggerRequest(logPath: string, level: LogLevel): ApiRequest {
  return {
    method: 'PUT',
    path: '/logger',
    body: { log_path: logPath, level, show_level: true, show_log_origin: false },
  };
}

export function metricsRequest(metricsPath: string): ApiRequest {
  return { method: 'PUT', path: '/metrics', body: { metrics_path: metricsPath } };
}

export type InstanceAction = 'InstanceStart' | 'SendCtrlAltDel' | 'FlushMetrics';

export function actionRequest(action: InstanceAction): ApiRequest {
  return { method: 'PUT', path: '/actions', body: { action_type: action } };
}

export function vmStateRequest(state: 'Paused' | 'Resumed'): ApiRequest {
  return { method: 'PATCH', path: '/vm', body: { state } };
}

export interface SnapshotCreateInput {
  kind: 'full' | 'diff';
  snapshotPath: string;
  memPath: string;
}

export function snapshotCreateRequest(input: SnapshotCreateInput): ApiRequest {
  return {
    method: 'PUT',
    path: '/snapshot/create',
    body: {
      snapshot_type: input.kind === 'full' ? 'Full' : 'Diff',
      snapshot_path: input.snapshotPath,
      mem_file_path: input.memPath,
    },
  };
}

export interface SnapshotLoadInput {
  snapshotPath: string;
  memPath: string;
  /** Keep tracking dirty pages so the restored VM can take diff snapshots. */
  trackDirtyPages: boolean;
  /** Set only when the UDS must move away from the path saved in the snapshot. */
  vsockUdsPath?: string;
  /** Set only for interfaces whose tap differs from the one saved in the snapshot. */
  tapOverrides?: readonly { ifaceId: string; tap: string }[];
}

/** The VM is always left paused: the port resumes it explicitly. */
export function snapshotLoadRequest(input: SnapshotLoadInput, shapes: ApiShapes): ApiRequest {
  const body: Record<string, unknown> = { snapshot_path: input.snapshotPath, resume_vm: false };
  if (shapes.memBackend) body.mem_backend = { backend_type: 'File', backend_path: input.memPath };
  else body.mem_file_path = input.memPath;
  if (shapes.loadTrackDirtyPages) body.track_dirty_pages = input.trackDirtyPages;
  else body.enable_diff_snapshots = input.trackDirtyPages;
  if (input.vsockUdsPath !== undefined && shapes.vsockOverride) {
    body.vsock_override = { uds_path: input.vsockUdsPath };
  }
  const overrides = input.tapOverrides ?? [];
  if (overrides.length > 0 && shapes.networkOverrides) {
    body.network_overrides = overrides.map((o) => ({ iface_id: o.ifaceId, host_dev_name: o.tap }));
  }
  return { method: 'PUT', path: '/snapshot/load', body };
}
