import { readFile } from 'node:fs/promises';
import { HostError, ValidationError } from '../../core/errors.ts';
import { profilesManifestSchema, type ProfilesManifest } from '../../contract/profiles.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';

/** More than any real manifest, and well under Linux's 128 KiB limit on one argument. */
export const MAX_PROFILES_TOML_BYTES = 64 * 1024;

/**
 * The TOML is parsed by Nix's own `builtins.fromTOML` (toml11, inside every Nix; no TOML
 * library is among mvm's dependencies): the host that builds flakes has Nix anyway. The
 * expression is ours and fixed; the file's text arrives as a string argument, so nothing of
 * the tenant's is evaluated as Nix.
 */
const FROM_TOML = '{ text }: builtins.fromTOML text';

/** Reads and checks a flake's mvm-profiles.toml; refuses a bad one with every problem. */
export async function readProfilesToml(
  runner: ProcessRunner,
  path: string,
  nixInstantiate = 'nix-instantiate',
): Promise<ProfilesManifest> {
  const bytes = await readFile(path);
  if (bytes.length > MAX_PROFILES_TOML_BYTES) {
    throw refused(`it is ${bytes.length} bytes, over ${MAX_PROFILES_TOML_BYTES}`);
  }
  const text = bytes.toString('utf8');
  if (text.includes('\0') || !Buffer.from(text, 'utf8').equals(bytes)) {
    throw refused('it is not UTF-8 text');
  }
  const args = ['--eval', '--json', '--strict', '--argstr', 'text', text, '--expr', FROM_TOML];
  const result = await runner
    .run(nixInstantiate, args, { check: false, timeoutMs: 60_000 })
    .catch((error: unknown) => {
      throw new HostError(
        `cannot run ${nixInstantiate} to read mvm-profiles.toml: ${String(error)}; install Nix (nix-bin)`,
      );
    });
  if (result.exitCode !== 0) throw refused(tomlError(result.stderr));
  const parsed = profilesManifestSchema.safeParse(JSON.parse(result.stdout));
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(top)'}: ${issue.message}`,
    );
    throw new ValidationError(`the flake's mvm-profiles.toml: ${problems.join('; ')}`, problems);
  }
  return parsed.data;
}

function refused(why: string): ValidationError {
  const problem = `the flake's mvm-profiles.toml cannot be read: ${why}`;
  return new ValidationError(problem, [problem]);
}

/** Nix's message without its own location lines (they name our fixed expression). */
function tomlError(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  const start = lines.findIndex((l) => l.includes('while parsing a TOML string'));
  const end = lines.findIndex((l) => l.includes('at «string»'));
  const picked = lines.slice(Math.max(start, 0), end > start ? end : undefined);
  return `not TOML (${picked.join(' ').replace(/\s+/g, ' ').trim() || 'nix-instantiate failed'})`;
}
