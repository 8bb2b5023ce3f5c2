import { z } from 'zod';
import { roles } from '../core/model.ts';

/**
 * A flake's `mvm-profiles.toml` (seed 003) once parsed from TOML (by Nix's own `fromTOML`:
 * drivers/image/profiles-toml.ts). Strict: a misspelt key would otherwise read as "no
 * secrets drive" and a worker would boot without its secrets.
 */
const moduleSchema = z.string().min(1).max(1024);

const roleEntrySchema = z.strictObject({
  module: moduleSchema,
  requires_config_drive: z.boolean(),
  requires_secrets_drive: z.boolean(),
});

export const profilesManifestSchema = z.strictObject({
  meta: z.strictObject({ version: z.literal(1) }),
  profiles: z.record(
    z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a profile name: a-z, 0-9 and -'),
    z.strictObject({ module: moduleSchema }),
  ),
  roles: z.partialRecord(z.enum(roles), roleEntrySchema),
});
export type ProfilesManifest = z.infer<typeof profilesManifestSchema>;
