import type { Readable } from 'node:stream';
import type { ExecRequest } from '../../contract/guest-protocol-v2.ts';
import type {
  ExecHandle,
  ExecOptions,
  PtyHandle,
  PtyRequest,
} from '../../drivers/guest-channel/exec-session.ts';
import type { GetFileHandle, PutFileOptions } from '../../drivers/guest-channel/file-session.ts';
import type { WorkloadLogView } from '../../drivers/guest-channel/workload-log.ts';
import type { ConsoleStreamOptions } from '../runtime/console-stream.ts';
import type { InstanceRef } from '../runtime/instance-runtime.ts';

/**
 * What the tunnel needs of this host: sessions into a running instance's guest, and its
 * console. The instance runtime is the implementation; a warm or sleeping instance is refused
 * a guest session (the coordinator wakes it first), its console is read as it is.
 */
export interface GuestSessions {
  exec(ref: InstanceRef, request: ExecRequest, options?: ExecOptions): Promise<ExecHandle>;
  openPty(
    ref: InstanceRef,
    request: PtyRequest,
    options?: { signal?: AbortSignal },
  ): Promise<PtyHandle>;
  putFile(
    ref: InstanceRef,
    path: string,
    source: Readable,
    options?: PutFileOptions,
  ): Promise<{ bytes: number }>;
  getFile(ref: InstanceRef, path: string): Promise<GetFileHandle>;
  /** The serial console: its last lines, then (follow) what follows, until the signal. */
  consoleLog(ref: InstanceRef, options: ConsoleStreamOptions): Promise<Readable>;
  /** The workload's output: its last `tail` lines, or what came after position `from`. */
  workloadLogs(ref: InstanceRef, query: { tail?: number; from?: number }): Promise<WorkloadLogView>;
}
