import { request } from 'node:http';
import type { z } from 'zod';
import {
  LOCAL_API_PREFIX,
  localInstanceSchema,
  localLogsSchema,
  localNetworkSchema,
  localStatsSchema,
  localWorkloadLogsSchema,
  nodeGcReportSchema,
} from '../contract/agent-api.ts';
import type {
  LocalAction,
  LocalInstance,
  LocalLogs,
  LocalNetwork,
  LocalStats,
  LocalWorkloadLogs,
  NodeGcReport,
  PutInstanceBody,
} from '../contract/agent-api.ts';
import { errorBodySchema } from '../contract/common.ts';
import { errorFromWire, InternalError, UnavailableError } from '../core/errors.ts';

export interface LocalRef {
  tenantId: string;
  poolId: string;
  instanceId: string;
}

/** The local agent's API over its unix socket; failures arrive as MvmErrors. */
export interface AgentClient {
  readonly socket: string;
  list(): Promise<LocalInstance[]>;
  put(ref: LocalRef, body: PutInstanceBody): Promise<LocalInstance>;
  act(ref: LocalRef, action: LocalAction): Promise<LocalInstance>;
  stats(ref: LocalRef): Promise<LocalStats>;
  logs(ref: LocalRef, lines: number): Promise<LocalLogs>;
  /** The workload's log: the last `tail` lines, or what came after position `from`. */
  workloadLogs(ref: LocalRef, query: { tail?: number; from?: number }): Promise<LocalWorkloadLogs>;
  /** The node's desired tenant network, derived by the agent from its VM records. */
  network(): Promise<LocalNetwork>;
  /** Collects the node's garbage (or lists it, dryRun) under the agent's locks. */
  gc(options: { dryRun: boolean }): Promise<NodeGcReport>;
}

const instancePath = (ref: LocalRef): string =>
  `/tenants/${ref.tenantId}/pools/${ref.poolId}/instances/${ref.instanceId}`;

export function createAgentClient(socket: string, timeoutMs = 180_000): AgentClient {
  const call = <T>(schema: z.ZodType<T>, method: string, path: string, body?: unknown) =>
    exchange(socket, method, `${LOCAL_API_PREFIX}${path}`, body, timeoutMs).then((json) =>
      parseOrThrow(schema, json, path),
    );
  return {
    socket,
    list: () => call(localInstanceSchema.array(), 'GET', '/instances'),
    put: (ref, body) => call(localInstanceSchema, 'PUT', instancePath(ref), body),
    act: (ref, action) =>
      call(localInstanceSchema, 'POST', `${instancePath(ref)}/actions`, { action }),
    stats: (ref) => call(localStatsSchema, 'GET', instancePath(ref)),
    logs: (ref, lines) => call(localLogsSchema, 'GET', `${instancePath(ref)}/logs?lines=${lines}`),
    workloadLogs: (ref, query) => {
      const q = query.from !== undefined ? `from=${query.from}` : `tail=${query.tail ?? 100}`;
      return call(localWorkloadLogsSchema, 'GET', `${instancePath(ref)}/workload-logs?${q}`);
    },
    network: () => call(localNetworkSchema, 'GET', '/network'),
    gc: (options) => call(nodeGcReportSchema, 'POST', '/gc', options),
  };
}

function parseOrThrow<T>(schema: z.ZodType<T>, json: unknown, path: string): T {
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  throw new InternalError(
    `the agent sent an unexpected reply for ${path}: ${parsed.error.message}`,
  );
}

function exchange(
  socket: string,
  method: string,
  path: string,
  body: unknown,
  timeoutMs: number,
): Promise<unknown> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: socket,
        method,
        path,
        timeout: timeoutMs,
        headers: payload ? { 'content-type': 'application/json' } : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          try {
            resolve(decode(res.statusCode ?? 500, text));
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
        // The agent went away mid-answer (killed, restarted): unreachable, not a CLI bug.
        res.on('error', () => undefined);
        res.on('close', () => {
          if (!res.complete) reject(brokenOff(socket, method));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', (error) =>
      reject(
        new UnavailableError(
          `cannot reach the local agent at ${socket}: ${error.message}; start it with 'mvm agent serve' (same --data-dir)`,
        ),
      ),
    );
    req.end(payload);
  });
}

function brokenOff(socket: string, method: string): UnavailableError {
  const next =
    method === 'GET'
      ? 'retry once it is back'
      : "the change may have been made; check with 'mvm agent instance list' before retrying";
  return new UnavailableError(
    `the local agent at ${socket} broke off its answer (it stopped or restarted); ${next}`,
  );
}

function decode(status: number, text: string): unknown {
  const json: unknown = text === '' ? undefined : JSON.parse(text);
  if (status < 400) return json;
  const error = errorBodySchema.safeParse(json);
  if (!error.success)
    throw new InternalError(`the agent answered ${status}: ${text.slice(0, 200)}`);
  const { code, message, details } = error.data.error;
  throw errorFromWire(code, message, details);
}
