import { z } from 'zod';
import { byteCount } from './common.ts';

/** A part's name: one flat file name, so a manifest can never point outside its bundle. */
export const bundlePartNameSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'lower-case letters, digits, dot, dash and underscore');

const sha256Schema = z
  .string()
  .length(64)
  .regex(/^[0-9a-f]{64}$/);

/**
 * One file of a move bundle (docs/moves.md): its bytes as sent (gzip) with their sha256, and
 * the original file's size and sha256, checked again after it is unpacked on the target.
 */
export const bundlePartSchema = z.strictObject({
  name: bundlePartNameSchema,
  bytes: byteCount(),
  sha256: sha256Schema,
  rawBytes: byteCount(),
  rawSha256: sha256Schema,
});
export type BundlePartManifest = z.infer<typeof bundlePartSchema>;

export const bundleManifestSchema = z.strictObject({
  format: z.literal('mvm-move-bundle/1'),
  compression: z.literal('gzip'),
  parts: z.array(bundlePartSchema).min(1).max(64),
});
export type BundleManifest = z.infer<typeof bundleManifestSchema>;
