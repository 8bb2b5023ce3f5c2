import { sessionStartSchema, type SessionStartInput } from '../../contract/exec.ts';
import type { InstanceRef } from '../../core/ids.ts';
import { ValidationError } from '../../core/errors.ts';
import type { CommandContext } from '../command.ts';
import { ClientSession, type SessionIo } from '../../drivers/exec-tunnel/client-session.ts';
import { openSessionSocket } from './session-socket.ts';

/**
 * Checks the session here (bad input never leaves the machine), then opens it through the
 * coordinator with the configured URL, token and CA.
 */
export async function startSession(
  ctx: CommandContext,
  ref: InstanceRef,
  input: SessionStartInput,
  io: SessionIo,
): Promise<ClientSession> {
  const parsed = sessionStartSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${['session', ...issue.path.map(String)].join('.')}: ${issue.message}`,
    );
    throw new ValidationError(
      `invalid session; nothing was sent: ${problems.join('; ')}`,
      problems,
    );
  }
  const { coordinatorUrl, token, caPem } = ctx.config();
  const socket = await openSessionSocket(
    {
      coordinatorUrl,
      ...(token !== undefined ? { token } : {}),
      ...(caPem !== undefined ? { caPem } : {}),
    },
    ref,
    parsed.data.kind === 'logs' ? 'instanceLogs' : 'execInstance',
  );
  return new ClientSession(socket, parsed.data, io);
}
