/**
 * Sessions into an instance's guest through the coordinator (docs/exec.md): exec, pty and
 * file copies, carried over WebSockets from the CLI to the coordinator and, multiplexed, over
 * the tunnel each node's agent keeps open to it. Control messages are JSON, output and input
 * are raw bytes; both legs share this vocabulary, so the coordinator relays, it does not
 * translate.
 */
import { z } from 'zod';
import { boundedRecord, idSchema, intIn, safeText } from './common.ts';

/** Any text but NUL (execve and paths cannot carry it): arguments and values as given. */
const NO_NUL = new RegExp(String.raw`^[^\u0000]*$`);
const rawText = (max: number) => z.string().max(max).regex(NO_NUL, 'no NUL characters');

/**
 * The exec request goes to the guest in one frame of at most 32 KiB (docs/guest-protocol.md),
 * so the command line and its environment must fit in this much JSON.
 */
export const MAX_COMMAND_JSON = 24 * 1024;
export const MAX_ARGS = 1024;

/** Output bytes a session may have in flight towards its reader (the default window). */
export const DEFAULT_SESSION_WINDOW = 256 * 1024;
export const MIN_SESSION_WINDOW = 16 * 1024;
export const MAX_SESSION_WINDOW = 4 * 1024 * 1024;
/** The largest data message on either leg: a guest frame's payload. */
export const MAX_DATA_CHUNK = 64 * 1024;
/** The largest WebSocket message either side accepts (data chunks and control JSON). */
export const MAX_SESSION_MESSAGE = 1024 * 1024;

export const sessionSignals = [
  'TERM',
  'KILL',
  'INT',
  'HUP',
  'QUIT',
  'USR1',
  'USR2',
  'STOP',
  'CONT',
  'WINCH',
] as const;
export type SessionSignal = (typeof sessionSignals)[number];

const argvSchema = z
  .array(rawText(MAX_COMMAND_JSON))
  .min(1)
  .max(MAX_ARGS)
  .refine((argv) => argv[0] !== '', 'the command (the first word) must not be empty');
const envSchema = boundedRecord(
  z
    .string()
    .max(256)
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name like PATH'),
  rawText(MAX_COMMAND_JSON),
  256,
);
/** An absolute path in the guest (one pattern: the published schema states it whole). */
export const guestPathSchema = z
  .string()
  .max(4096)
  .regex(new RegExp(String.raw`^/[^\u0000]*$`), 'an absolute path without NUL, like /etc/hosts');
const windowSchema = intIn(MIN_SESSION_WINDOW, MAX_SESSION_WINDOW);
const sizeSchema = intIn(1, 1000);

const commandFields = {
  env: envSchema.optional(),
  cwd: guestPathSchema.optional(),
  /** "root", a name or uid from the image's /etc/passwd, or "uid:gid". */
  user: safeText(64).optional(),
  /** Output bytes in flight towards the client (default 256 KiB). */
  window: windowSchema.optional(),
};

const fitsOneFrame = (start: { argv?: readonly string[]; env?: unknown }) =>
  JSON.stringify([start.argv ?? [], start.env ?? {}]).length <= MAX_COMMAND_JSON;
const FITS_MESSAGE = `the command line and its environment must fit in ${MAX_COMMAND_JSON / 1024} KiB`;

export const execStartSchema = z
  .strictObject({
    kind: z.literal('exec'),
    argv: argvSchema,
    ...commandFields,
    /** Seconds → the guest TERMs, then KILLs the process group; the exit is 124. */
    timeoutMs: intIn(1, 7 * 24 * 3600 * 1000).optional(),
    /** Whether the client sends stdin (else the command reads /dev/null). */
    stdin: z.boolean().default(true),
  })
  .refine(fitsOneFrame, FITS_MESSAGE);

/** A pty session's command when it names none. */
export const DEFAULT_SHELL_ARGV: readonly string[] = ['/bin/sh'];

export const ptyStartSchema = z
  .strictObject({
    kind: z.literal('pty'),
    /** Default: the image's /bin/sh. */
    argv: argvSchema.optional(),
    ...commandFields,
    cols: sizeSchema,
    rows: sizeSchema,
  })
  .refine(fitsOneFrame, FITS_MESSAGE);

/** A file into the guest: its bytes follow as input, written atomically with `mode`. */
export const putStartSchema = z.strictObject({
  kind: z.literal('put'),
  path: guestPathSchema,
  mode: intIn(0, 0o7777),
  window: windowSchema.optional(),
});

/** A file out of the guest: its bytes follow as output. */
export const getStartSchema = z.strictObject({
  kind: z.literal('get'),
  path: guestPathSchema,
  window: windowSchema.optional(),
});

/** Lines a logs session may ask for from the end of the console (the rest is skipped). */
export const MAX_LOG_TAIL = 100_000;

/**
 * An instance's logs (the logs route only): its workload's output, read through the guest (a
 * warm or sleeping instance is woken first), or with `console` its serial console, read from
 * the node's file (never woken). The last `tail` lines, then with `follow` what comes next,
 * until the client leaves.
 */
export const logsStartSchema = z.strictObject({
  kind: z.literal('logs'),
  tail: intIn(0, MAX_LOG_TAIL).default(100),
  follow: z.boolean().default(false),
  console: z.boolean().default(false),
  window: windowSchema.optional(),
});

export const sessionStartSchema = z.discriminatedUnion('kind', [
  execStartSchema,
  ptyStartSchema,
  putStartSchema,
  getStartSchema,
  logsStartSchema,
]);
export type SessionStart = z.output<typeof sessionStartSchema>;
export type SessionStartInput = z.input<typeof sessionStartSchema>;
export type SessionKind = SessionStart['kind'];

const creditSchema = z.strictObject({ type: z.literal('credit'), bytes: intIn(1, 2 ** 31 - 1) });
const resizeSchema = z.strictObject({
  type: z.literal('resize'),
  cols: sizeSchema,
  rows: sizeSchema,
});
const signalSchema = z.strictObject({ type: z.literal('signal'), signal: z.enum(sessionSignals) });
const eofSchema = z.strictObject({ type: z.literal('eof') });

/** What a client sends on its session socket (text messages); its input goes as binary. */
export const clientMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('start'), session: sessionStartSchema }),
  eofSchema,
  creditSchema,
  resizeSchema,
  signalSchema,
]);
export type ClientMessage = z.output<typeof clientMessageSchema>;

export const startedSchema = z.strictObject({
  type: z.literal('started'),
  /** exec and pty: the command's pid in the guest. */
  pid: z.number().int().optional(),
  /** get: the file's size and permission bits. */
  size: z.number().int().nonnegative().optional(),
  mode: z.number().int().nonnegative().optional(),
  /** Input bytes the client may send before it gets credit (0: the session takes none). */
  stdinWindow: z.number().int().nonnegative(),
});
export type Started = z.infer<typeof startedSchema>;

/** The session's last message when it ran to its end. */
export const exitSchema = z.strictObject({
  type: z.literal('exit'),
  /** The command's status: 128+n when killed by signal n, 124 on its timeout; 0 for a copy. */
  code: z.number().int(),
  signal: z.string().optional(),
  timedOut: z.boolean(),
  /** put/get: the bytes copied. */
  bytes: z.number().int().nonnegative().optional(),
});
export type SessionExit = z.infer<typeof exitSchema>;

/** The session's last message when it could not start or broke (an mvm error). */
export const sessionErrorSchema = z.strictObject({
  type: z.literal('error'),
  error: z.strictObject({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type SessionError = z.infer<typeof sessionErrorSchema>;

/** What the server side of a session sends (text messages); output goes as binary. */
export const serverMessageSchema = z.discriminatedUnion('type', [
  startedSchema,
  creditSchema,
  exitSchema,
  sessionErrorSchema,
]);
export type ServerMessage = z.output<typeof serverMessageSchema>;

/**
 * Binary messages on the client's socket: one channel byte, then the bytes. The client sends
 * stdin (and a put's content); the server sends stdout, stderr (and a get's content).
 */
export const Channel = { stdin: 0, stdout: 1, stderr: 2 } as const;
export type ChannelName = keyof typeof Channel;

/** The instance a tunnel session is for. */
export const sessionRefSchema = z.strictObject({
  tenantId: idSchema,
  poolId: idSchema,
  instanceId: idSchema,
});

/**
 * Control messages on the tunnel: the coordinator opens, feeds and cancels sessions, the agent
 * answers with the same started/credit/exit/error messages the client gets.
 */
export const tunnelRequestSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('open'), ref: sessionRefSchema, session: sessionStartSchema }),
  eofSchema,
  resizeSchema,
  signalSchema,
  /** The client went away: kill what runs, drop what is left. */
  z.strictObject({ type: z.literal('cancel') }),
]);
export type TunnelRequest = z.output<typeof tunnelRequestSchema>;

/**
 * Tunnel frames: `[type u8][stream u32 BE][payload]` in one binary WebSocket message; the
 * stream is the session's id, chosen by the coordinator.
 */
export const TunnelFrame = {
  /** JSON: a TunnelRequest (coordinator → agent) or a ServerMessage (agent → coordinator). */
  control: 1,
  stdin: 2,
  stdout: 3,
  stderr: 4,
  /** u32 BE: more bytes the peer may send on the stream (output or input, by direction). */
  credit: 5,
} as const;
export type TunnelFrameType = (typeof TunnelFrame)[keyof typeof TunnelFrame];
export const TUNNEL_HEADER_BYTES = 5;
