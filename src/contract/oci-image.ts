/**
 * The parts of the OCI image format mvm reads (image-spec v1: index, manifest, config), and
 * what it derives from them: the image's run config and the run spec the guest reads. Only
 * the fields mvm uses are checked; the rest pass through untouched.
 */
import { z } from 'zod';

export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;
const digestSchema = z.string().regex(DIGEST_PATTERN, 'a sha256:<64 hex> digest');

export const descriptorSchema = z.object({
  mediaType: z.string().optional(),
  digest: digestSchema,
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: z.object({ architecture: z.string(), os: z.string() }).loose().optional(),
});
export type OciDescriptor = z.infer<typeof descriptorSchema>;

export const OCI_MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_LIST_TYPE = 'application/vnd.docker.distribution.manifest.list.v2+json';

/** index.json of a layout, or a multi-platform index/manifest list. */
export const ociIndexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(descriptorSchema),
});
export type OciIndex = z.infer<typeof ociIndexSchema>;

export const ociManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
});
export type OciManifest = z.infer<typeof ociManifestSchema>;

const stringList = z.array(z.string()).nullish();

/** The image config's `config` object: what runs, as whom, where, with what environment. */
export const ociImageConfigSchema = z.object({
  architecture: z.string().optional(),
  os: z.string().optional(),
  config: z
    .object({
      Entrypoint: stringList,
      Cmd: stringList,
      Env: stringList,
      WorkingDir: z.string().nullish(),
      User: z.string().nullish(),
      ExposedPorts: z.record(z.string(), z.unknown()).nullish(),
      StopSignal: z.string().nullish(),
    })
    .loose()
    .nullish(),
  rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(digestSchema) }),
});
export type OciImageConfig = z.infer<typeof ociImageConfigSchema>;

export const exposedPortSchema = z.object({
  port: z.number().int().min(1).max(65535),
  protocol: z.enum(['tcp', 'udp', 'sctp']),
});

/**
 * How an image wants to be run, from its config: `argv` is Entrypoint followed by Cmd (empty:
 * the image names no process, and the guest runs only mvm's agent).
 */
export const imageRunConfigSchema = z.object({
  argv: z.array(z.string()),
  /** `NAME=value` pairs in the image's order; PATH is always there. */
  env: z.array(z.string().regex(/^[^=]+=/, 'NAME=value')),
  /** Absolute; `/` when the image names none. */
  workingDir: z.string().startsWith('/'),
  /** As the image says it (`name`, `uid`, `uid:gid`, `name:group`); empty means root. */
  user: z.string(),
  exposedPorts: z.array(exposedPortSchema),
  stopSignal: z.string().optional(),
});
export type ImageRunConfig = z.infer<typeof imageRunConfigSchema>;

/**
 * What the guest reads from the run-spec drive (`run.json`, label `mvm-run`): the workload
 * service's command and the defaults of every exec. The guest agent parses it in C
 * (src/guest/agent/workload.c): keep both in step and bump `version` on any change.
 */
export const runSpecSchema = z.object({
  version: z.literal(1),
  argv: z.array(z.string()),
  /** An object in the image's order; the guest passes exactly these to the workload. */
  env: z.record(z.string(), z.string()),
  cwd: z.string().startsWith('/'),
  user: z.string(),
  /** The image's exposed TCP ports: the guest reports whether each is listened on. */
  ports: z.array(z.number().int().min(1).max(65535)),
});
export type RunSpec = z.infer<typeof runSpecSchema>;
