/**
 * The guest op `identity` (docs/clones.md, docs/guest-protocol.md): what a clone restored
 * from its pool's base snapshot takes as its own before its NIC carries a frame. The guest
 * checks every field again and changes nothing when one is wrong.
 */
import { z } from 'zod';

const driveDigest = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 digest in hex');
const ipv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export const GuestIdentitySchema = z.object({
  hostname: z.string().regex(/^[a-z0-9][a-z0-9.-]{0,62}$/),
  /** eth0's address with its prefix, a.b.c.d/n. */
  ip: z.string().refine((s) => {
    const [addr, prefix, more] = s.split('/');
    const n = Number(prefix);
    return more === undefined && ipv4.test(addr ?? '') && Number.isInteger(n) && n >= 1 && n <= 32;
  }, 'an IPv4 address with a prefix, a.b.c.d/n'),
  gw: z.string().regex(ipv4).optional(),
  /** A unicast MAC, lower-case. */
  mac: z.string().regex(/^[0-9a-f][02468ace](:[0-9a-f]{2}){5}$/),
  mtu: z.number().int().min(576).max(9000).optional(),
  /** 32 lower-case hex digits, as /etc/machine-id holds it. */
  machine_id: z.string().regex(/^[0-9a-f]{32}$/),
  /** Host randomness (hex, 16–512 bytes) mixed into the guest's pool, credited, reseeded. */
  seed: z.string().regex(/^([0-9a-f]{2}){16,512}$/),
  /** Host wall clock, epoch seconds with a fraction. */
  now: z.number().positive().optional(),
  /** The clone's own read-only drives: remounted when the digest differs from the base's. */
  secrets: driveDigest.optional(),
  config: driveDigest.optional(),
});
export type GuestIdentity = z.infer<typeof GuestIdentitySchema>;

export const IdentityAnswerSchema = z.object({
  ok: z.literal(true),
  hostname_set: z.boolean(),
  net_set: z.boolean(),
  machine_id_bound: z.boolean(),
  /** -1 failed, 0 mixed in only, 1 credited, 2 credited and the CRNG reseeded. */
  entropy: z.number().int(),
});
export type IdentityAnswer = z.infer<typeof IdentityAnswerSchema>;
