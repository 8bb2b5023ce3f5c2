/**
 * mvm-profiles.toml through Nix's own TOML parser (a real nix-instantiate): the seed's file
 * reads as its JSON form; TOML errors, non-UTF-8 text and oversized files are refused.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../src/core/errors.ts';
import { NodeProcessRunner } from '../../../src/drivers/process/node-process-runner.ts';
import {
  MAX_PROFILES_TOML_BYTES,
  readProfilesToml,
} from '../../../src/drivers/image/profiles-toml.ts';

const runner = new NodeProcessRunner();

const SEED = `[meta]
version = 1

[profiles.minimal]
module = "guests/profiles/minimal.nix"

[profiles.python]
module = "guests/profiles/python.nix"

[roles.gateway]
module = "roles/gateway.nix"
requires_config_drive = true
requires_secrets_drive = true

[roles.worker]
module = "roles/worker.nix"
requires_config_drive = false
requires_secrets_drive = true
`;

describe('readProfilesToml', () => {
  let dir = '';
  const file = async (name: string, text: string | Buffer) => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-toml-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("reads the seed's manifest", async () => {
    expect(await readProfilesToml(runner, await file('seed.toml', SEED))).toEqual({
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
      },
    });
  });

  it('evaluates nothing of the file as Nix: a Nix expression in it is only a string', async () => {
    const text = SEED.replace('"guests/profiles/minimal.nix"', `'\${builtins.abort "ran"}'`);
    const read = await readProfilesToml(runner, await file('nix.toml', text));
    expect(read.profiles['minimal']?.module).toBe('${builtins.abort "ran"}');
  });

  it.each([
    ['not TOML', '[roles.worker\n', /cannot be read: not TOML \(.*toml/],
    [
      'a typo',
      SEED.replace('requires_secrets_drive = true\n', 'requires_secret_drive = true\n'),
      /roles\.gateway: Unrecognized key: "requires_secret_drive"/,
    ],
    ['not UTF-8', Buffer.from([0x5b, 0xff, 0x5d]), /not UTF-8/],
    ['too big', `# ${'x'.repeat(MAX_PROFILES_TOML_BYTES)}\n${SEED}`, /over 65536/],
  ])('refuses %s', async (name, text, message) => {
    const path = await file(`${name.replace(/\W/g, '-')}.toml`, text);
    const error = await readProfilesToml(runner, path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(message);
  });
});
