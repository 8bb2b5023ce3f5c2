import { HostError } from '../../core/errors.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { FirecrackerApiClient } from './api-client.ts';

export interface FirecrackerVersion {
  major: number;
  minor: number;
  patch: number;
  /** As Firecracker printed it, e.g. `1.0.0-44-gc73a27cb-dirty`. */
  raw: string;
}

const VERSION_PATTERN = /v?(\d+)\.(\d+)\.(\d+)\S*/;

/** Reads `1.16.1`, `v1.0.0-44-gc73a27cb-dirty` or the first line of `firecracker --version`. */
export function parseFirecrackerVersion(text: string): FirecrackerVersion | undefined {
  const match = VERSION_PATTERN.exec(text);
  if (!match) return undefined;
  const [raw, major, minor, patch] = match;
  return {
    major: Number(major),
    minor: Number(minor),
    patch: Number(patch),
    raw: raw.replace(/^v/, ''),
  };
}

export function versionAtLeast(
  version: FirecrackerVersion,
  major: number,
  minor: number,
  patch = 0,
): boolean {
  if (version.major !== major) return version.major > major;
  if (version.minor !== minor) return version.minor > minor;
  return version.patch >= patch;
}

export function formatVersion(version: FirecrackerVersion): string {
  return `${version.major}.${version.minor}.${version.patch}`;
}

/** `GET /version` exists since 1.0; `GET /` (`vmm_version`) also works on older releases. */
export async function detectVersion(client: FirecrackerApiClient): Promise<FirecrackerVersion> {
  const fromVersion = await client.get('/version').then(
    (body) => parseField(body, 'firecracker_version'),
    () => undefined,
  );
  if (fromVersion) return fromVersion;
  const fromRoot = parseField(await client.get('/'), 'vmm_version');
  if (fromRoot) return fromRoot;
  throw new HostError(
    `could not read the Firecracker version from ${client.socketPath} (GET /version and GET /)`,
    { socket: client.socketPath },
  );
}

/** Version of a binary without starting a VM: `firecracker --version`. */
export async function versionFromBinary(
  runner: ProcessRunner,
  binary: string,
): Promise<FirecrackerVersion> {
  const result = await runner.run(binary, ['--version'], { timeoutMs: 10_000 });
  const version = parseFirecrackerVersion(result.stdout);
  if (version) return version;
  throw new HostError(`'${binary} --version' printed no version: ${result.stdout.slice(0, 200)}`, {
    command: binary,
  });
}

function parseField(body: unknown, field: string): FirecrackerVersion | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value = (body as Record<string, unknown>)[field];
  return typeof value === 'string' ? parseFirecrackerVersion(value) : undefined;
}
