/**
 * Worker exec (docs/openclaw.md, "Worker exec"): a command in a gateway guest runs in a worker
 * of the gateway's own tenant. The guest's request names a worker key (an OpenClaw session
 * key) or a worker instance of its tenant, never a tenant: the host agent that runs the
 * gateway opens the coordinator's node-scoped route below with its own credential, naming the
 * gateway instance, and the coordinator resolves the worker inside that instance's tenant.
 */
import { z } from 'zod';
import { guestPathSchema, MAX_COMMAND_JSON } from './exec.ts';

/** An OpenClaw session key is like `agent:main:telegram:dm:123`. */
export const workerKeySchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:@+=/-]+$/, "a key of A-Z, a-z, 0-9 and '._:@+=/-', like agent:main:main");

/** A worker instance of the caller's tenant, `POOL/INSTANCE`. */
export const workerTargetSchema = z
  .string()
  .max(127)
  .regex(
    /^[a-z0-9]([a-z0-9-]*[a-z0-9])?\/[a-z0-9]([a-z0-9-]*[a-z0-9])?$/,
    'POOL/INSTANCE, ids of a-z, 0-9 and -',
  );

/** The query of the coordinator's workerExec route: at most one of the two. */
export const workerExecQuerySchema = z
  .strictObject({ worker: workerKeySchema.optional(), target: workerTargetSchema.optional() })
  .refine((q) => q.worker === undefined || q.target === undefined, {
    message: 'name a worker key or a target instance, not both',
  });
export type WorkerExecQuery = z.infer<typeof workerExecQuerySchema>;

const NO_NUL = new RegExp(String.raw`^[^\u0000]*$`);

/** What `mvm-worker exec` sends from the guest (its OPEN frame), checked by the host agent. */
export const workerExecRequestSchema = z
  .strictObject({
    argv: z
      .array(z.string().max(MAX_COMMAND_JSON).regex(NO_NUL))
      .min(1)
      .max(1024)
      .refine((argv) => argv[0] !== '', 'the command (the first word) must not be empty'),
    worker: workerKeySchema.optional(),
    instance: workerTargetSchema.optional(),
    cwd: guestPathSchema.optional(),
  })
  .refine((r) => r.worker === undefined || r.instance === undefined, {
    message: 'name --worker or --instance, not both',
  });
export type WorkerExecRequest = z.infer<typeof workerExecRequestSchema>;

/** Frames between `mvm-worker broker` and the host agent: [type u8][id u32 BE][len u32 BE]. */
export const WorkerFrame = {
  open: 1,
  stdin: 2,
  eof: 3,
  stdout: 4,
  stderr: 5,
  exit: 6,
  error: 7,
  close: 8,
} as const;
export const WORKER_FRAME_HEADER = 9;
export const MAX_WORKER_FRAME = 1024 * 1024;
/** Where a gateway guest's broker listens and its command lives (mvm's init drive). */
export const WORKER_BROKER_ARGV: readonly string[] = ['/mvm/bin/mvm-worker', 'broker'];
export const WORKER_EXEC_COMMAND = '/mvm/bin/mvm-worker';
