/**
 * Guest agent protocol, version 2 (docs/guest-protocol.md): after a `hello` line the channel
 * carries binary frames `[0xB7][type u8][stream u32 BE][length u32 BE][payload]`, with JSON
 * payloads for requests, answers and events and raw bytes for stdin/stdout/stderr. The guest
 * side is src/guest/agent/*.c; keep both in step.
 */
import { z } from 'zod';

export const FRAME_MAGIC = 0xb7;
export const FRAME_HEADER_BYTES = 10;
/** The largest payload the host may send (the guest refuses more); also the resync preamble. */
export const MAX_HOST_PAYLOAD = 32 * 1024;
/** The largest payload the guest sends. */
export const MAX_GUEST_PAYLOAD = 64 * 1024;

export const FrameType = {
  req: 1,
  resp: 2,
  event: 3,
  stdin: 4,
  eof: 5,
  stdout: 6,
  stderr: 7,
  credit: 8,
} as const;
export type FrameTypeName = keyof typeof FrameType;

/** Capabilities a guest agent may advertise; a version-1 agent has only the first four. */
export const guestCapabilities = [
  'status',
  'wake',
  'drives',
  'drain',
  'exec',
  'exec.stdin',
  'exec.stream',
  'exec.signal',
  'exec.timeout',
  'exec.user',
  'exec.env',
  'exec.cwd',
  'pty',
  'files',
  /** Status reports the workload service; exec defaults to the image's Env and WorkingDir. */
  'workload',
  'logs',
  /** A clone takes its own identity (docs/clones.md); from agent 2.2.0. */
  'identity',
  /**
   * Requests may carry `rid`, the id of the request behind them (docs/api.md): the guest logs
   * it on its console and echoes it in the answer; from agent 2.3.0.
   */
  'rid',
] as const;
export type GuestCapability = (typeof guestCapabilities)[number];

export const HelloResponseSchema = z.object({
  ok: z.literal(true),
  proto: z.number().int().min(2),
  agent: z.string(),
  version: z.string(),
  caps: z.array(z.string()),
  max_frame_in: z.number().int().positive(),
  max_frame_out: z.number().int().positive(),
  boot_id: z.string(),
});

/** Who answers on the channel: a version-2 agent, or the busybox agent of older images. */
export interface GuestAgentInfo {
  proto: 1 | 2;
  agent: string;
  version: string;
  caps: readonly string[];
}

export const GUEST_V1_INFO: GuestAgentInfo = {
  proto: 1,
  agent: 'mvm-agent.sh',
  version: '1',
  caps: ['status', 'wake', 'drives', 'drain'],
};

export const ErrorAnswerSchema = z.object({
  ok: z.literal(false),
  error: z.string(),
  code: z.string().default('error'),
});

export const ExecAcceptedSchema = z.object({
  ok: z.literal(true),
  pid: z.number().int(),
  stdin_window: z.number().int().positive(),
});

export const ExitEventSchema = z.object({
  ev: z.literal('exit'),
  code: z.number().int(),
  signal: z.string().optional(),
  signal_number: z.number().int().optional(),
  timed_out: z.boolean(),
});

export const DoneEventSchema = z.object({ ev: z.literal('done'), bytes: z.number().int() });
export const FileErrorEventSchema = z.object({
  ev: z.literal('error'),
  error: z.string(),
  code: z.string(),
});
export const FileEventSchema = z.discriminatedUnion('ev', [DoneEventSchema, FileErrorEventSchema]);

export const PutAcceptedSchema = z.object({
  ok: z.literal(true),
  stdin_window: z.number().int().positive(),
});

export const GetAcceptedSchema = z.object({
  ok: z.literal(true),
  size: z.number().int().nonnegative(),
  mode: z.number().int().nonnegative(),
  uid: z.number().int(),
  gid: z.number().int(),
});

/** What keeps a guest from sleeping: its sessions and the workload's own busy flags. */
export const BusySchema = z.object({
  sessions: z.number().int().nonnegative(),
  commands: z.array(z.string()),
  flags: z.array(z.string()),
});
export type GuestBusy = z.infer<typeof BusySchema>;

export const SleepPrepV2Schema = z.object({
  ok: z.literal(true),
  drained: z.boolean(),
  busy: BusySchema,
});
export type SleepPrepResult = z.infer<typeof SleepPrepV2Schema>;

/** The workload service (the image's process) as the guest agent's status reports it. */
export const WorkloadStatusSchema = z.object({
  /** starting, running, backoff (exited, waiting to start again), none (no process), invalid, stopped */
  state: z.string(),
  pid: z.number().int().nonnegative(),
  restarts: z.number().int().nonnegative(),
  running_for_ms: z.number().int().optional(),
  backoff_ms: z.number().int().optional(),
  error: z.string().optional(),
  last_exit: z
    .object({ code: z.number().int(), signal: z.string(), ago_ms: z.number().int() })
    .optional(),
  /** The image's exposed TCP ports and whether something listens on each. */
  ports: z.array(z.object({ port: z.number().int(), listening: z.boolean() })).default([]),
});
export type WorkloadStatus = z.infer<typeof WorkloadStatusSchema>;

export const LogsAnswerSchema = z.object({
  ok: z.literal(true),
  /** Oldest position still kept (older bytes were rotated away). */
  first: z.number().int().nonnegative(),
  /** Position after the last byte written so far. */
  end: z.number().int().nonnegative(),
  /** Where `data_b64` begins: the asked position, clamped to [first, end]. */
  start: z.number().int().nonnegative(),
  data_b64: z.string(),
});

export const StatusV2Schema = z.object({
  ok: z.literal(true),
  uptime_s: z.number().nonnegative(),
  counter: z.number().int().nonnegative(),
  hostname: z.string(),
  ip: z.string(),
  boot_id: z.string().min(1),
  remounts: z.number().int().nonnegative().default(0),
  mem_available_kb: z.number().int().optional(),
  agent_rss_kb: z.number().int().optional(),
  /**
   * The guest's own CPU time since boot, USER_HZ ticks over all its CPUs: `idle` its idle
   * time, `busy` the rest (iowait included). Absent from agents before 2.4.
   */
  cpu: z
    .object({ busy: z.number().int().nonnegative(), idle: z.number().int().nonnegative() })
    .optional(),
  busy: BusySchema.optional(),
  /** Present when the guest has a run spec (an image with a workload). */
  workload: WorkloadStatusSchema.optional(),
});
export type GuestStatusV2 = z.infer<typeof StatusV2Schema>;

/** What the host asks the guest to run; see docs/guest-protocol.md for every field. */
export const ExecRequestSchema = z.object({
  argv: z.array(z.string()).min(1),
  env: z.record(z.string(), z.string()).optional(),
  cwd: z.string().optional(),
  /** "root", a name or uid from the image's /etc/passwd, or "uid:gid". */
  user: z.string().optional(),
  timeoutMs: z.number().int().positive().optional(),
  /** After a timeout's TERM, how long before KILL (default 2000 ms). */
  killGraceMs: z.number().int().nonnegative().optional(),
});
export type ExecRequest = z.infer<typeof ExecRequestSchema>;

export interface ExecExit {
  /** Exit status; 128+n for signal n; 124 when the timeout killed it. */
  code: number;
  signal?: string;
  timedOut: boolean;
}
