/**
 * The host <-> guest agent protocol: newline-delimited JSON over virtio-serial (QEMU) or
 * vsock (Firecracker). One request per line, one response per line, correlated by `id`.
 * The guest side is src/guest/agent.sh; keep both in step.
 */
import { z } from 'zod';

export const guestOps = ['ping', 'status', 'sleep-prep', 'wake', 'drives'] as const;
export type GuestOp = (typeof guestOps)[number];

const requestId = z.number().int().nonnegative();
const driveDigest = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 digest in hex');

export const GuestRequestSchema = z.object({
  id: requestId,
  op: z.enum(guestOps),
  /** wake only: host wall-clock time (epoch seconds), so a restored guest's clock catches up. */
  now: z.number().int().nonnegative().optional(),
  /**
   * wake and drives: digests of the read-only drives as the host built them. On wake the guest
   * remounts only a drive whose digest differs from the one it holds (absent: remount);
   * `drives` tells a freshly booted guest what it mounted.
   */
  secrets: driveDigest.optional(),
  config: driveDigest.optional(),
});
export type GuestRequest = z.infer<typeof GuestRequestSchema>;

/** sha256 (hex) of the secrets and config drives, as the host built them. */
export interface DriveDigests {
  secrets?: string;
  config?: string;
}

/** What every response shares; enough to route it to the waiting request. */
export const GuestEnvelopeSchema = z.looseObject({
  id: requestId.nullable(),
  ok: z.boolean(),
});
export type GuestEnvelope = z.infer<typeof GuestEnvelopeSchema>;

const okBase = { id: requestId, ok: z.literal(true) };

export const PingResponseSchema = z.object({ ...okBase, ready: z.literal(true) });

export const StatusResponseSchema = z.object({
  ...okBase,
  /** Seconds since the guest booted (/proc/uptime); does not reset across sleep/wake. */
  uptime_s: z.number().nonnegative(),
  /** Ticks once a second in guest RAM; proves memory continuity across pause and snapshot. */
  counter: z.number().int().nonnegative(),
  hostname: z.string(),
  ip: z.string(),
  /** Changes on every guest boot; the same value after a wake means no reboot happened. */
  boot_id: z.string().min(1),
  /** How many times the guest remounted its secrets/config drives since it booted (0 from older guests). */
  remounts: z.number().int().nonnegative().default(0),
});
export type GuestStatus = z.infer<typeof StatusResponseSchema>;

export const SleepPrepResponseSchema = z.object({ ...okBase, drained: z.literal(true) });

export const WakeResponseSchema = z.object(okBase);

export const DrivesResponseSchema = z.object(okBase);

export const GuestErrorResponseSchema = z.object({
  id: requestId.nullable(),
  ok: z.literal(false),
  error: z.string(),
});

export const guestResponseSchemas = {
  ping: PingResponseSchema,
  status: StatusResponseSchema,
  'sleep-prep': SleepPrepResponseSchema,
  wake: WakeResponseSchema,
  drives: DrivesResponseSchema,
} as const;

export type GuestResponse<Op extends GuestOp> = z.infer<(typeof guestResponseSchemas)[Op]>;

/** The vsock port the guest agent listens on under Firecracker. */
export const GUEST_AGENT_VSOCK_PORT = 1024;
/** The virtio-serial port name the guest agent looks for under QEMU. */
export const GUEST_AGENT_PORT_NAME = 'mvm.agent';
