import type { ProfilesManifest } from '../contract/profiles.ts';
import type { Role } from './model.ts';
import type { RoleDriveSet } from './roles.ts';

/**
 * The drive set a build of `tenant-<role>-<profile>` records, from the flake's
 * mvm-profiles.toml: the role's `requires_secrets_drive` and `requires_config_drive`. The
 * manifest must name the profile and the role; a builder may not ask for secrets (it runs
 * tenant build code: drivesForRole never gives it any, so such a manifest is refused rather
 * than silently overruled). Pure.
 */
export function driveSetFromProfiles(
  manifest: ProfilesManifest,
  role: Role,
  profile: string,
): { drives: RoleDriveSet } | { problems: string[] } {
  const problems: string[] = [];
  if (!Object.hasOwn(manifest.profiles, profile)) {
    const known = Object.keys(manifest.profiles).join(', ') || 'none';
    problems.push(`mvm-profiles.toml has no [profiles.${profile}] (it has: ${known})`);
  }
  const entry = manifest.roles[role];
  if (!entry) {
    const known = Object.keys(manifest.roles).join(', ') || 'none';
    problems.push(`mvm-profiles.toml has no [roles.${role}] (it has: ${known})`);
  } else if (role === 'builder' && entry.requires_secrets_drive) {
    problems.push(
      'mvm-profiles.toml: [roles.builder] requires_secrets_drive = true, but a builder never gets a secrets drive (it runs tenant build code); set it to false',
    );
  }
  if (problems.length > 0 || !entry) return { problems };
  return {
    drives: { secrets: entry.requires_secrets_drive, config: entry.requires_config_drive },
  };
}
