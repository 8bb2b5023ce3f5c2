import type { Role } from './model.ts';

/**
 * Where a pool's guest image comes from: an OCI image (skopeo's transport syntax), a Nix flake
 * and profile (seed 003), or the dev image (the zero-set-up default). Pure: refs are checked as
 * text here; the builders (drivers/image) are the ones that read them.
 */
export type PoolSource =
  { kind: 'dev' } | { kind: 'oci'; ref: string } | { kind: 'nix'; flake: string; profile: string };

export type PoolSourceKind = PoolSource['kind'];

/** The pool fields a source is read from: `image` or `flake`+`profile`, or none of them. */
export interface SourceFields {
  image: string | null;
  flake: string | null;
  profile: string | null;
}

export function sourceOf(fields: SourceFields): PoolSource {
  if (fields.image !== null) return { kind: 'oci', ref: fields.image };
  if (fields.flake !== null && fields.profile !== null) {
    return { kind: 'nix', flake: fields.flake, profile: fields.profile };
  }
  return { kind: 'dev' };
}

/** The fields that store a source (the inverse of sourceOf). */
export function fieldsOf(source: PoolSource): SourceFields {
  switch (source.kind) {
    case 'dev':
      return { image: null, flake: null, profile: null };
    case 'oci':
      return { image: source.ref, flake: null, profile: null };
    case 'nix':
      return { image: null, flake: source.flake, profile: source.profile };
  }
}

/** How a source reads to a human: `dev image`, the OCI ref, or `flake#profile`. */
export function describeSource(source: PoolSource): string {
  switch (source.kind) {
    case 'dev':
      return 'dev image';
    case 'oci':
      return source.ref;
    case 'nix':
      return `${source.flake} (profile ${source.profile})`;
  }
}

/**
 * Picks the source a create or update asks for: `--image` alone, `--flake` with `--profile`,
 * or neither (the dev image). Returns the problems of any other combination.
 */
export function requestedSource(request: {
  image?: string | undefined;
  flake?: string | undefined;
  profile?: string | undefined;
}): { source?: PoolSource; problems: string[] } {
  const { image, flake, profile } = request;
  if (image !== undefined && (flake !== undefined || profile !== undefined)) {
    return { problems: ['give an OCI image (--image) or a flake (--flake/--profile), not both'] };
  }
  if (image !== undefined) {
    const problems = imageRefProblems(image);
    return problems.length > 0 ? { problems } : { source: { kind: 'oci', ref: image }, problems };
  }
  if ((flake === undefined) !== (profile === undefined)) {
    return { problems: ['a flake source needs both --flake and --profile'] };
  }
  if (flake !== undefined && profile !== undefined) {
    const problems = flakeRefProblems(flake);
    return problems.length > 0
      ? { problems }
      : { source: { kind: 'nix', flake, profile }, problems };
  }
  return { source: { kind: 'dev' }, problems: [] };
}

/** skopeo transports mvm builds from; the first three name a path on the caller's machine. */
export const imageTransports = ['oci', 'oci-archive', 'docker-archive', 'docker'] as const;
export type ImageTransport = (typeof imageTransports)[number];

export interface ImageRef {
  transport: ImageTransport;
  /** The directory or file (local transports) or the registry reference (`docker`). */
  path: string;
  /** The tag (oci), image reference (archives) or undefined: the only image there. */
  reference?: string;
}

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** docker-archive's second part: `name[:tag]` or `@index`. */
const ARCHIVE_REF = /^(@\d{1,4}|[a-z0-9][a-z0-9._/-]{0,200}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?)$/;
/** registry/name[:tag|@sha256:…]: what `docker://` takes, without a scheme or spaces. */
const DOCKER_REF =
  /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?(:\d{1,5})?(\/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$/;

/**
 * Parses skopeo's transport syntax: `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
 * `docker-archive:FILE[:REF]`, `docker://NAME[:TAG]`. Like containers/image, the path ends
 * at the first colon after the transport, so a path cannot hold one.
 */
export function parseImageRef(ref: string): ImageRef | undefined {
  if (ref.startsWith('docker://')) {
    const name = ref.slice('docker://'.length);
    return DOCKER_REF.test(name) ? { transport: 'docker', path: name } : undefined;
  }
  const colon = ref.indexOf(':');
  if (colon < 0) return undefined;
  const transport = ref.slice(0, colon);
  if (transport !== 'oci' && transport !== 'oci-archive' && transport !== 'docker-archive') {
    return undefined;
  }
  const rest = ref.slice(colon + 1);
  const split = rest.indexOf(':');
  const path = split < 0 ? rest : rest.slice(0, split);
  const reference = split < 0 ? undefined : rest.slice(split + 1);
  if (path === '' || /[\s\0]/.test(path)) return undefined;
  if (reference !== undefined) {
    const rule = transport === 'docker-archive' ? ARCHIVE_REF : TAG;
    if (!rule.test(reference)) return undefined;
  }
  return { transport, path, ...(reference !== undefined ? { reference } : {}) };
}

export function imageRefProblems(ref: string): string[] {
  if (parseImageRef(ref) !== undefined) return [];
  return [
    `'${ref}' is not an image reference mvm can build: use oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG] or docker://NAME[:TAG] (skopeo's transport syntax)`,
  ];
}

/** Whether the image lives on the caller's machine (the CLI packs and uploads it). */
export function isLocalImage(ref: ImageRef): boolean {
  return ref.transport !== 'docker';
}

const FLAKE_SCHEMES = [
  'path:',
  'git+file:',
  'git+https:',
  'git+ssh:',
  'git+http:',
  'github:',
  'gitlab:',
  'sourcehut:',
  'tarball+https:',
  'https:',
  'http:',
  'file:',
  'flake:',
];

/**
 * A flake reference without an attribute (mvm picks `#tenant-…` itself): a local path
 * (`.`, `./dir`, `/abs`, `path:`, `git+file:`) or a URL-like ref (`github:org/repo`, …).
 */
export function flakeRefProblems(ref: string): string[] {
  if (ref.trim() === '')
    return ['flake must not be empty; give a flake ref like github:org/images'];
  // Flake refs go into an argument array; whitespace there is always a copy-paste mistake.
  if (/[\s\0]/.test(ref)) return [`flake '${ref}' must not contain whitespace`];
  if (ref.includes('#')) {
    return [
      `flake ref '${ref}' names an attribute; give the flake only: mvm builds #tenant-<role>-<profile> (or #tenant-<profile>)`,
    ];
  }
  const path = ref.startsWith('/') || ref === '.' || ref === '..' || /^\.\.?\//.test(ref);
  if (!path && !FLAKE_SCHEMES.some((s) => ref.startsWith(s))) {
    return [
      `'${ref}' is not a flake ref: use a path (., ./dir, /abs, path:/abs) or a ref like github:org/repo, git+https://…, https://…/flake.tar.gz`,
    ];
  }
  return [];
}

/** Whether the flake lives on the caller's machine (the CLI packs and uploads it). */
export function isLocalFlake(ref: string): boolean {
  return (
    ref.startsWith('/') ||
    ref.startsWith('.') ||
    ref.startsWith('path:') ||
    ref.startsWith('git+file:') ||
    ref.startsWith('file:')
  );
}

/**
 * The flake attribute a build takes (seed 003): `tenant-<role>-<profile>` when the flake has
 * an `mvm-profiles.toml`, else the legacy `tenant-<profile>`.
 */
export function nixAttribute(role: Role, profile: string, hasProfilesToml: boolean): string {
  return hasProfilesToml ? `tenant-${role}-${profile}` : `tenant-${profile}`;
}
