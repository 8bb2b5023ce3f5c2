import { describe, expect, it } from 'vitest';
import { profilesManifestSchema, type ProfilesManifest } from '../../src/contract/profiles.ts';
import { driveSetFromProfiles } from '../../src/core/profiles.ts';

/** Seed 003's mvm-profiles.toml, as Nix's fromTOML gives it. */
const seed: ProfilesManifest = {
  meta: { version: 1 },
  profiles: {
    minimal: { module: 'guests/profiles/minimal.nix' },
    python: { module: 'guests/profiles/python.nix' },
  },
  roles: {
    gateway: {
      module: 'roles/gateway.nix',
      requires_config_drive: true,
      requires_secrets_drive: true,
    },
    worker: {
      module: 'roles/worker.nix',
      requires_config_drive: false,
      requires_secrets_drive: true,
    },
    builder: {
      module: 'roles/builder.nix',
      requires_config_drive: false,
      requires_secrets_drive: false,
    },
  },
};

describe('mvm-profiles.toml', () => {
  it("takes the seed's manifest as it is", () => {
    expect(profilesManifestSchema.parse(seed)).toEqual(seed);
  });

  it.each([
    ['gateway', 'minimal', { secrets: true, config: true }],
    ['worker', 'python', { secrets: true, config: false }],
    ['builder', 'minimal', { secrets: false, config: false }],
  ] as const)('%s/%s gets %j', (role, profile, drives) => {
    expect(driveSetFromProfiles(seed, role, profile)).toEqual({ drives });
  });

  it('names what is missing: the profile, the role, or both', () => {
    expect(driveSetFromProfiles(seed, 'capability-imessage', 'rust')).toEqual({
      problems: [
        'mvm-profiles.toml has no [profiles.rust] (it has: minimal, python)',
        'mvm-profiles.toml has no [roles.capability-imessage] (it has: gateway, worker, builder)',
      ],
    });
  });

  it('refuses secrets for a builder rather than overruling it silently', () => {
    const asks = {
      ...seed,
      roles: {
        builder: { module: 'b.nix', requires_config_drive: false, requires_secrets_drive: true },
      },
    };
    const found = driveSetFromProfiles(asks, 'builder', 'minimal');
    expect(found).toEqual({
      problems: [expect.stringContaining('a builder never gets a secrets drive')],
    });
  });

  it.each([
    [
      'a misspelt key',
      {
        ...seed,
        roles: {
          worker: { module: 'w.nix', requires_config_drive: false, requires_secret_drive: true },
        },
      },
    ],
    [
      'a missing requirement',
      { ...seed, roles: { worker: { module: 'w.nix', requires_config_drive: false } } },
    ],
    ['an unknown role', { ...seed, roles: { router: seed.roles.gateway } }],
    ['another version', { ...seed, meta: { version: 2 } }],
    ['no meta', { profiles: seed.profiles, roles: seed.roles }],
    ['a bad profile name', { ...seed, profiles: { 'Big Profile': { module: 'x.nix' } } }],
    ['an empty module', { ...seed, profiles: { minimal: { module: '' } } }],
  ])('refuses %s', (_what, manifest) => {
    expect(profilesManifestSchema.safeParse(manifest).success).toBe(false);
  });
});
