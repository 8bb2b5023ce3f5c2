/**
 * From an OCI image's config to how mvm runs it (pure): the workload's argv, environment,
 * working directory and user, and the run spec the guest reads. Docker's rules: argv is
 * Entrypoint then Cmd; a later `NAME=` in Env replaces an earlier one; PATH defaults to the
 * usual list when the image sets none.
 */
import type {
  ImageRunConfig,
  OciDescriptor,
  OciImageConfig,
  OciIndex,
  RunSpec,
} from '../contract/oci-image.ts';
import { ValidationError } from './errors.ts';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function runConfigOf(image: OciImageConfig): ImageRunConfig {
  const config = image.config ?? {};
  const env = mergeEnv(config.Env ?? []);
  if (!env.some((pair) => pair.startsWith('PATH='))) env.unshift(`PATH=${DEFAULT_PATH}`);
  const workingDir = config.WorkingDir ? config.WorkingDir : '/';
  if (!workingDir.startsWith('/')) {
    throw new ValidationError(`the image's WorkingDir '${workingDir}' is not an absolute path`);
  }
  return {
    argv: [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])],
    env,
    workingDir,
    user: config.User ?? '',
    exposedPorts: exposedPorts(Object.keys(config.ExposedPorts ?? {})),
    ...(config.StopSignal ? { stopSignal: config.StopSignal } : {}),
  };
}

/** Later definitions of a name win, in the place of the first one. */
function mergeEnv(pairs: readonly string[]): string[] {
  const byName = new Map<string, string>();
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    byName.set(pair.slice(0, eq), pair);
  }
  return [...byName.values()];
}

function exposedPorts(keys: readonly string[]): ImageRunConfig['exposedPorts'] {
  const ports: ImageRunConfig['exposedPorts'] = [];
  for (const key of keys) {
    const match = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(key);
    const port = Number(match?.[1]);
    if (!match || port < 1 || port > 65535) {
      throw new ValidationError(`the image exposes '${key}', which is not PORT[/tcp|udp|sctp]`);
    }
    const protocol = (match[2] ?? 'tcp') as 'tcp' | 'udp' | 'sctp';
    ports.push({ port, protocol });
  }
  return ports.sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
}

/** The guest's run spec for an image's run config. */
export function runSpecOf(run: ImageRunConfig): RunSpec {
  const env: Record<string, string> = {};
  for (const pair of run.env) {
    const eq = pair.indexOf('=');
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const ports = run.exposedPorts.filter((p) => p.protocol === 'tcp').map((p) => p.port);
  return { version: 1, argv: run.argv, env, cwd: run.workingDir, user: run.user, ports };
}

/**
 * The manifest of a multi-platform index for the platform mvm boots (linux/amd64 today),
 * or a clear refusal naming what the index offers.
 */
export function platformManifest(
  index: OciIndex,
  platform = { os: 'linux', architecture: 'amd64' },
): OciDescriptor {
  const found = index.manifests.find(
    (m) => m.platform?.os === platform.os && m.platform.architecture === platform.architecture,
  );
  if (found) return found;
  const offered = index.manifests
    .map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}` : 'unnamed'))
    .join(', ');
  throw new ValidationError(
    `the image index has no ${platform.os}/${platform.architecture} manifest (it has: ${offered || 'none'}); build the image for ${platform.os}/${platform.architecture}`,
  );
}
