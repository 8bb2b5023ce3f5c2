/**
 * The hypervisor port. Two real drivers implement it (Firecracker, QEMU); one contract suite
 * runs against both. Differences are capability flags, never `if (driver === ...)` at call sites.
 */
export interface VmmCapabilities {
  /** Diff snapshots with dirty-page tracking (Firecracker). */
  diffSnapshots: boolean;
  /** Launch through a jailer (chroot, uid/gid, cgroup, netns). */
  jailer: boolean;
  /**
   * The VMM runs confined: as the spec's unprivileged `runAs` user, in a chroot of its own,
   * under a seccomp filter, with no capabilities. False means it runs as the agent's user.
   */
  confined: boolean;
  /**
   * Memory the VMM process needs beyond guest RAM (measured, see the driver); a cgroup
   * memory limit is guest RAM plus this.
   */
  memOverheadMib: number;
  /** How the host talks to the guest agent. */
  guestChannel: 'vsock' | 'virtio-serial';
  /** Hardware acceleration in use, or software emulation. */
  accel: 'kvm' | 'tcg';
  /**
   * A restore uses each drive's own file (the inode at its path, by descriptor or path),
   * never a copy, and reads none of it before `resume`: a read-only drive may then be
   * written in place between the two (a wake's secrets drive). Absent means no.
   */
  drivesInPlace?: boolean;
}

export interface DriveSpec {
  /** Stable id: rootfs, data, secrets, config. */
  id: string;
  path: string;
  readOnly: boolean;
}

/** The unprivileged user and group a confined VMM runs as: one per instance, never root. */
export interface VmIdentity {
  uid: number;
  gid: number;
}

export interface NetSpec {
  id: string;
  tap: string;
  mac: string;
  /**
   * No network driver made this tap (tenant networking off): the VMM gets a transient tap on
   * no bridge, gone with it. Otherwise the tap must already exist.
   */
  transient?: boolean;
}

export interface VmSpec {
  /** Deterministic, mvm-prefixed key for every host resource of this VM. */
  key: string;
  /** Private directory for sockets, logs and snapshots of this VM. */
  workDir: string;
  vcpus: number;
  memMib: number;
  kernelPath: string;
  initrdPath?: string;
  cmdline: string;
  /** In attach order: the guest sees them as vda, vdb, ... */
  drives: DriveSpec[];
  nets: NetSpec[];
  /**
   * cgroup directories the VMM process must be in before any guest code runs: one on a
   * cgroup v2 host, one per hierarchy on v1 or hybrid hosts.
   */
  cgroupDirs?: readonly string[];
  /** Whom a confining driver runs the VMM as; ignored by a driver that does not confine. */
  runAs?: VmIdentity;
}

export type VmState = 'running' | 'paused' | 'exited';

/** What is persisted to find the VM again after an agent restart. */
export interface VmHandle {
  key: string;
  driver: 'firecracker' | 'qemu';
  pid: number;
  /**
   * The VMM's start time (/proc/<pid>/stat field 22), so a later process that got the same
   * pid is not mistaken for it. Absent in handles recorded before it was kept.
   */
  pidStartTime?: number;
  /** Control socket: Firecracker API socket or QEMU QMP socket. */
  controlSocket: string;
  /** Host end of the guest agent channel (vsock UDS or virtio-serial chardev socket). */
  guestSocket: string;
  workDir: string;
  /** The identity the VMM really runs as when confined; absent when it runs as the agent's user. */
  runAs?: VmIdentity;
}

export interface SnapshotRef {
  /** Directory holding the complete snapshot (written to a temp path, then renamed). */
  dir: string;
  kind: 'full' | 'diff';
  /** For a diff snapshot, the full snapshot it applies on. */
  base?: SnapshotRef;
  sizeBytes: number;
}

export interface Vmm {
  readonly name: 'firecracker' | 'qemu';
  capabilities(): Promise<VmmCapabilities>;
  /** Cold boot. Resolves once the VMM runs the guest (not when the guest agent is ready). */
  start(spec: VmSpec): Promise<VmHandle>;
  pause(vm: VmHandle): Promise<void>;
  resume(vm: VmHandle): Promise<void>;
  /** Requires a paused VM; the VM stays paused. Written to `dir` atomically. */
  snapshot(vm: VmHandle, dir: string, kind: 'full' | 'diff'): Promise<SnapshotRef>;
  /** New VMM process from a snapshot; the VM is left paused until `resume`. */
  restore(spec: VmSpec, snapshot: SnapshotRef): Promise<VmHandle>;
  state(vm: VmHandle): Promise<VmState>;
  /**
   * Carrier of the VM's NIC `netId` on or off; a NIC held off neither sends nor receives a
   * frame. A clone is held off until it took its identity (docs/clones.md). Absent: the
   * driver cannot, and the agent never clones on it.
   */
  setLink?(vm: VmHandle, netId: string, up: boolean): Promise<void>;
  /** Graceful then forceful; idempotent. */
  stop(vm: VmHandle): Promise<void>;
  /** Reconnect to a VMM that survived an agent restart; null if it is gone. */
  adopt(vm: VmHandle): Promise<VmHandle | null>;
}
