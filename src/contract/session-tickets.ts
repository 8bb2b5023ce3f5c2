/**
 * Session tickets (docs/exec.md, "Tickets"): a browser cannot put an Authorization header on
 * a WebSocket, so a token holder mints a ticket over the API and opens the exec or logs
 * socket with `?ticket=`. A ticket is short-lived, single-use, and bound to one instance, one
 * session kind and the scope of the token that minted it.
 */
import { z } from 'zod';

/** How long a ticket may wait for its socket. */
export const SESSION_TICKET_TTL_MS = 30_000;

/** Which route the ticket opens: `exec` (commands, terminals, copies) or `logs`. */
export const sessionTicketKindSchema = z.enum(['exec', 'logs']);

export const createSessionTicketSchema = z.strictObject({
  session: sessionTicketKindSchema,
});
export type CreateSessionTicketRequest = z.infer<typeof createSessionTicketSchema>;

export const SESSION_TICKET_PATTERN = /^mvmt_[A-Za-z0-9_-]{43}$/;

export const sessionTicketSchema = z.object({
  /** The secret, shown once: pass it as `?ticket=` on the session's WebSocket route. */
  ticket: z.string(),
  session: sessionTicketKindSchema,
  expiresAt: z.string(),
  /** The WebSocket route's path below the server, without the ticket. */
  path: z.string(),
});
export type SessionTicketView = z.infer<typeof sessionTicketSchema>;

/** The exec and logs routes' query: a ticket instead of an Authorization header. */
export const sessionSocketQuerySchema = z.strictObject({
  ticket: z
    .string()
    .max(64)
    .regex(/^[A-Za-z0-9_-]*$/, 'a ticket from createSessionTicket')
    .optional(),
});
