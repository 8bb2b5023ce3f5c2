/**
 * The QEMU command line for one microVM, as a pure function of the spec. Start and restore
 * share it (a restored VM needs exactly the devices it was saved with), plus `-incoming`.
 */
import { join } from 'node:path';
import { GUEST_AGENT_PORT_NAME } from '../../contract/guest-protocol.ts';
import { InternalError } from '../../core/errors.ts';
import type { VmSpec } from '../../ports/vmm.ts';
import { confineArgs } from './qemu-confine.ts';
import type { LaunchConfinement } from './qemu-confine.ts';
import type { FdLayout } from './qemu-fds.ts';
import { balloonArgs, withReportingOrder } from './qemu-balloon.ts';
import { TCG_TB_SIZE_MIB } from './qemu-memory.ts';

export type Accel = 'kvm' | 'tcg';

export interface QemuPaths {
  qmpSocket: string;
  agentSocket: string;
  consoleLog: string;
  pidFile: string;
  /** QEMU's own stdout/stderr. */
  processLog: string;
  /** The empty directory a confined QEMU is chrooted into. */
  jailDir: string;
  /** Inside jailDir: the driver listens here for the migration stream of a sleep. */
  migrateSocket: string;
}

export interface QemuLaunch {
  spec: VmSpec;
  accel: Accel;
  /** Host TSC frequency; under TCG the guest needs it or it may hang calibrating. */
  tscKhz?: number;
  paths: QemuPaths;
  /** Where the child finds its drives (inherited descriptors; see qemu-fds.ts). */
  fds: FdLayout;
  /** -sandbox, -runas, -chroot; none when absent. */
  confine?: LaunchConfinement;
  /** Start with vCPUs stopped (so the process can be placed in its cgroup first). */
  paused?: boolean;
  /** Wait for a migration stream given later through QMP `migrate-incoming`. */
  incoming?: boolean;
  /**
   * A virtio-balloon with free-page reporting (see qemu-balloon.ts). A restore must match the
   * snapshot's device list, so it comes from the snapshot's metadata there.
   */
  balloon?: boolean;
  /** TCG translation cache in MiB (default TCG_TB_SIZE_MIB); ignored under KVM. */
  tcgTbSizeMib?: number;
}

/** Kept short: unix socket paths are limited to 107 bytes. */
export function qemuPaths(workDir: string): QemuPaths {
  const jailDir = join(workDir, 'jail');
  return {
    jailDir,
    migrateSocket: join(jailDir, 'migrate.sock'),
    qmpSocket: join(workDir, 'qmp.sock'),
    agentSocket: join(workDir, 'agent.sock'),
    consoleLog: join(workDir, 'console.log'),
    pidFile: join(workDir, 'qemu.pid'),
    processLog: join(workDir, 'qemu.log'),
  };
}

export function qemuArgs(launch: QemuLaunch): string[] {
  const { spec, paths } = launch;
  return [
    ...['-name', `${opt(spec.key)},debug-threads=on`],
    ...['-M', 'microvm,acpi=on'],
    ...accelArgs(launch.accel, launch.tcgTbSizeMib ?? TCG_TB_SIZE_MIB),
    ...['-m', String(spec.memMib), '-smp', String(spec.vcpus)],
    ...['-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot'],
    ...['-chardev', `file,id=console,path=${opt(paths.consoleLog)},append=on`],
    ...['-serial', 'chardev:console'],
    ...['-qmp', `unix:${opt(paths.qmpSocket)},server=on,wait=off`],
    ...['-pidfile', paths.pidFile],
    ...bootArgs(launch),
    ...spec.drives.flatMap((drive, index) => driveArgs(drive, launch.fds.driveSets[index])),
    ...spec.nets.flatMap((net, index) => netArgs(net, launch.fds.tapFds?.[index]?.fd)),
    ...agentChannelArgs(paths.agentSocket),
    ...(launch.balloon ? balloonArgs() : []),
    ...(launch.paused ? ['-S'] : []),
    ...(launch.incoming ? ['-incoming', 'defer'] : []),
    ...(launch.confine ? confineArgs(launch.confine) : []),
  ];
}

/**
 * Kernel parameters: the spec's, plus the TSC frequency under TCG unless already given, plus
 * the free-page-reporting order with a balloon (qemu-balloon.ts) unless already given.
 */
export function guestCmdline(
  cmdline: string,
  accel: Accel,
  tscKhz: number | undefined,
  balloon = false,
): string {
  const needsTsc = accel === 'tcg' && tscKhz !== undefined && !/\btsc_early_khz=/.test(cmdline);
  const withTsc = needsTsc ? `${cmdline} tsc_early_khz=${Math.round(tscKhz)}`.trim() : cmdline;
  return balloon ? withReportingOrder(withTsc) : withTsc;
}

/** `cpu MHz` from /proc/cpuinfo, as kHz; undefined when the line is missing. */
export function tscKhzFromCpuinfo(cpuinfo: string): number | undefined {
  const match = /^cpu MHz\s*:\s*([0-9.]+)/m.exec(cpuinfo);
  const mhz = match?.[1] === undefined ? Number.NaN : Number(match[1]);
  return Number.isFinite(mhz) && mhz > 0 ? Math.round(mhz * 1000) : undefined;
}

function accelArgs(accel: Accel, tbSizeMib: number): string[] {
  // -cpu host needs arch-capabilities masked on some hosts (QEMU aborts setting MSR 0x10a).
  return accel === 'kvm'
    ? ['-accel', 'kvm', '-cpu', 'host,-arch-capabilities']
    : // A bounded translation cache (QEMU's default grows to 1 GiB): see qemu-memory.ts.
      ['-accel', `tcg,tb-size=${tbSizeMib}`, '-cpu', 'max'];
}

function bootArgs(launch: QemuLaunch): string[] {
  const { spec } = launch;
  return [
    ...['-kernel', spec.kernelPath],
    ...(spec.initrdPath ? ['-initrd', spec.initrdPath] : []),
    ...['-append', guestCmdline(spec.cmdline, launch.accel, launch.tscKhz, launch.balloon)],
  ];
}

/** The drive's file is its fd set: QEMU never opens the path (see qemu-fds.ts). */
function driveArgs(
  drive: VmSpec['drives'][number],
  fdSet: FdLayout['driveSets'][number] | undefined,
): string[] {
  if (!fdSet)
    throw new InternalError(`no fd set for drive '${drive.id}' in the launch's fd layout`);
  const id = `drive-${qemuId(drive.id)}`;
  const ro = drive.readOnly ? ',readonly=on' : '';
  return [
    ...fdSet.fds.flatMap((fd) => ['-add-fd', `fd=${fd},set=${fdSet.set},opaque=${id}`]),
    ...['-drive', `id=${id},file=/dev/fdset/${fdSet.set},file.locking=off,format=raw,if=none${ro}`],
    ...['-device', `virtio-blk-device,drive=${id}`],
  ];
}

/** The QEMU id of the tap netdev for the spec's NIC `netId` (QMP `set_link` names it). */
export const netdevId = (netId: string): string => `net-${qemuId(netId)}`;

/** The tap as an inherited descriptor (mvm-tapfd attached it), or attached by QEMU by name. */
function netArgs(net: VmSpec['nets'][number], tapFd: number | undefined): string[] {
  const id = netdevId(net.id);
  const tap =
    tapFd === undefined
      ? `tap,id=${id},ifname=${opt(net.tap)},script=no,downscript=no`
      : `tap,id=${id},fd=${tapFd},vhost=off`;
  return [
    ...['-netdev', tap],
    ...['-device', `virtio-net-device,netdev=${id},mac=${opt(net.mac)}`],
  ];
}

/** virtserialport (not virtconsole: that is a tty and echoes) on a unix-socket chardev. */
function agentChannelArgs(socket: string): string[] {
  return [
    ...['-device', 'virtio-serial-device,id=vser0'],
    ...['-chardev', `socket,id=agent,path=${opt(socket)},server=on,wait=off`],
    ...['-device', `virtserialport,bus=vser0.0,chardev=agent,name=${GUEST_AGENT_PORT_NAME}`],
  ];
}

/** QEMU splits option values on commas; a literal comma is written twice. */
export function opt(value: string): string {
  return value.replaceAll(',', ',,');
}

/** QEMU ids: a letter first, then letters, digits, '-', '.', '_'. */
function qemuId(value: string): string {
  return value.replace(/[^A-Za-z0-9._-]/g, '_');
}
