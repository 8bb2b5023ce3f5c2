import { PassThrough } from 'node:stream';
import {
  admitGuestCall,
  heldAfter,
  type GuestCallInput,
  type GuestWorker,
} from '../../core/jobs/guest-call-admission.ts';
import { MvmError } from '../../core/errors.ts';
import {
  guestCallSchema,
  MAX_GUEST_CALL_BYTES,
  type GuestCallAnswer,
} from '../../contract/guest-job-call.ts';
import { httpStatusOf } from '../../contract/http-status.ts';
import type { ExecExit, ExecRequest } from '../../contract/guest-protocol-v2.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import type { ExecHandle, ExecOptions } from '../../drivers/guest-channel/exec-session.ts';
import type { Logger } from '../../ports/logger.ts';
import { boundedLines } from './bounded-lines.ts';

/** Where a worker image keeps the executor (drivers/dev-image/executor-payload.ts). */
export const GUEST_EXECUTOR_DIR = '/opt/mvm-executor';

export interface GuestJobRelayOptions {
  api: Pick<ApiClient, 'call'>;
  guest: { exec(request: ExecRequest, options?: ExecOptions): Promise<ExecHandle> };
  worker: GuestWorker;
  logger: Logger;
  leaseMs?: number;
  /** Extra environment for the executor (tests: MVM_EXECUTOR_FAULT). */
  env?: Record<string, string>;
  /** What runs in the guest instead of the executor (tests: a guest that forges its calls). */
  argv?: string[];
}

/** The executor's command line in a worker guest: its identity is the relay's, not its own. */
export function executorArgv(worker: GuestWorker, leaseMs: number): string[] {
  return [
    `${GUEST_EXECUTOR_DIR}/node`,
    `${GUEST_EXECUTOR_DIR}/main.mjs`,
    '--stdio',
    ...['--tenant', worker.tenantId, '--pool', worker.poolId, '--worker', worker.instanceId],
    ...['--lease-ms', String(leaseMs)],
  ];
}

/**
 * Runs the job executor inside one worker guest as a guest agent exec session and carries its
 * calls to the coordinator (docs/jobs.md, "Executors in worker microVMs"). The guest has no
 * route to the coordinator and no credential: each call line is admitted by
 * core/jobs/guest-call-admission (its own instance's claims, the jobs it holds, the job
 * routes only) and sent with this node's credential. A session ends with the executor or the
 * channel; `run` returns its exit and the caller decides whether to start another.
 */
export class GuestJobRelay {
  private held = new Set<string>();

  constructor(private readonly options: GuestJobRelayOptions) {}

  /** One executor session, relayed until it exits. */
  async run(signal?: AbortSignal): Promise<ExecExit> {
    const { worker, leaseMs = 30_000 } = this.options;
    const stdin = new PassThrough();
    const exec = await this.options.guest.exec(
      { argv: this.options.argv ?? executorArgv(worker, leaseMs), env: { ...this.options.env } },
      { stdin, ...(signal ? { signal } : {}) },
    );
    exec.stderr.on('data', (chunk: Buffer) =>
      this.options.logger.info(
        { instanceId: worker.instanceId, line: chunk.toString().trim() },
        'executor',
      ),
    );
    const relayed = this.relay(exec, stdin).catch(async (error: unknown) => {
      this.options.logger.warn({ error: String(error) }, 'guest executor broke the call protocol');
      await exec.signal('KILL').catch(() => undefined);
    });
    const exit = await exec.exit;
    stdin.end();
    await relayed;
    this.held = new Set();
    return exit;
  }

  private async relay(exec: ExecHandle, stdin: PassThrough): Promise<void> {
    for await (const line of boundedLines(exec.stdout, MAX_GUEST_CALL_BYTES)) {
      const answer = await this.answer(line);
      stdin.write(`${JSON.stringify(answer)}\n`);
    }
  }

  /** One call line: shape, admission, the coordinator's answer. */
  async answer(line: string): Promise<GuestCallAnswer> {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      return refused(-1, 400, 'invalid_argument', 'a call line must be JSON');
    }
    const parsed = guestCallSchema.safeParse(raw);
    const id = typeof (raw as { id?: unknown })?.id === 'number' ? (raw as { id: number }).id : -1;
    if (!parsed.success) return refused(id, 400, 'invalid_argument', parsed.error.message);
    const input: GuestCallInput = parsed.data;
    const admitted = admitGuestCall(input, this.options.worker, this.held);
    if (!admitted.ok) {
      return refused(
        id,
        admitted.status,
        admitted.status === 403 ? 'permission_denied' : 'invalid_argument',
        admitted.message,
      );
    }
    try {
      const value = await this.options.api.call(parsed.data.call, {
        params: admitted.params,
        body: admitted.body,
      } as never);
      const claimed = (value as { jobs?: Array<{ id: string }> }).jobs?.map((j) => j.id) ?? [];
      this.held = heldAfter(this.held, input, {
        ok: true,
        claimed: input.call === 'claimJobs' ? claimed : [],
      });
      return { id, ok: true, value };
    } catch (error) {
      const code = error instanceof MvmError ? error.code : 'unavailable';
      const status = httpStatusOf[code];
      this.held = heldAfter(this.held, input, { ok: false, leaseLost: status === 409 });
      return refused(id, status, code, error instanceof Error ? error.message : String(error));
    }
  }
}

function refused(id: number, status: number, code: string, message: string): GuestCallAnswer {
  return { id, ok: false, status, code, message };
}
