/** Reading what a guest command printed, for tests. */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { ExecExit, ExecRequest } from '../../src/contract/guest-protocol-v2.ts';
import type { ExecOptions } from '../../src/drivers/guest-channel/exec-session.ts';
import type { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export function sha256Of(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Runs a command to its end: both streams read in full, as text, and its exit. */
export async function execText(
  client: GuestAgentClient,
  request: ExecRequest,
  options: ExecOptions = {},
): Promise<{ stdout: string; stderr: string; exit: ExecExit }> {
  const exec = await client.exec(request, options);
  const [stdout, stderr] = await Promise.all([collect(exec.stdout), collect(exec.stderr)]);
  return { stdout: stdout.toString(), stderr: stderr.toString(), exit: await exec.exit };
}
