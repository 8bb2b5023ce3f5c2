import { z } from 'zod';
import { asciiRef, idSchema } from './common.ts';
import { nodeSchema } from './resources.ts';
import { registerNodeSchema } from './requests.ts';

/** Joining nodes: one-time join tokens, node certificates, rotation and revocation. */
const MAX_JOIN_TTL_SECONDS = 7 * 24 * 3600;
const csrPemSchema = z
  .string()
  .max(16_384)
  .regex(
    /^[\x20-\x7e\r\n]*-----BEGIN CERTIFICATE REQUEST-----[\x20-\x7e\r\n]*$/,
    'expected a PEM certificate signing request',
  );

export const createJoinTokenSchema = z.strictObject({
  /** Bind the token to one node id; without it the token joins any node not yet registered. */
  nodeId: idSchema.optional(),
  ttlSeconds: z.number().int().min(1).max(MAX_JOIN_TTL_SECONDS).default(3600),
});
export type CreateJoinTokenRequest = z.infer<typeof createJoinTokenSchema>;

export const issuedJoinTokenSchema = z.object({
  id: z.string(),
  nodeId: z.string().nullable(),
  expiresAt: z.string(),
  /** The secret, shown once. */
  token: z.string(),
  /** SHA-256 fingerprint of the coordinator's CA, to check on the joining host. */
  caFingerprint: z.string(),
});

export const joinNodeSchema = registerNodeSchema.extend({
  token: asciiRef(200),
  nodeId: idSchema,
  csrPem: csrPemSchema,
});
export type JoinNodeRequest = z.infer<typeof joinNodeSchema>;

export const nodeCertificateSchema = z.object({
  nodeId: z.string(),
  serial: z.string(),
  fingerprint: z.string(),
  notBefore: z.string(),
  notAfter: z.string(),
  certificatePem: z.string(),
  caCertificatePem: z.string(),
});
export type NodeCertificateView = z.infer<typeof nodeCertificateSchema>;

export const joinResultSchema = z.object({
  node: nodeSchema,
  certificate: nodeCertificateSchema,
});
export type JoinResult = z.infer<typeof joinResultSchema>;

export const rotateCertificateSchema = z.strictObject({ csrPem: csrPemSchema });

export const revokeResultSchema = z.object({
  node: nodeSchema,
  revokedCertificates: z.number().int(),
});
