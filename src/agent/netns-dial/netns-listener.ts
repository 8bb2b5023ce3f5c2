/**
 * Listening sockets bound inside an agent's network namespace (`agent.netns`) for the agent's
 * own process, which stays in the host's: a helper inside the namespace (listener-main.ts)
 * binds each one and hands the socket over its Node IPC channel (SCM_RIGHTS), so the agent
 * accepts on it directly and every accepted connection is the namespace's. The wake trap's
 * holding listeners use it: its redirect lands on the bridge address in that namespace.
 * The helper is spawned on the first request and again after it died; sockets already handed
 * over live on without it. Spawned with node:child_process (not ProcessRunner: it needs the
 * IPC channel), always as an argument array.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { extname } from 'node:path';
import type { Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { HostError } from '../../core/errors.ts';
import type { Logger } from '../../ports/logger.ts';

/** Opens a listening TCP socket on `host`, a port of the kernel's choice. */
export type ListenIn = (host: string) => Promise<Server>;

const ANSWER_MS = 20_000;

interface Answer {
  id: number;
  port?: number;
  error?: string;
}

export interface NetnsListener {
  listen: ListenIn;
  close(): Promise<void>;
}

export function netnsListener(options: { netns: string; logger: Logger }): NetnsListener {
  let child: ChildProcess | undefined;
  let next = 0;
  const waiting = new Map<number, (answer: Answer, server: Server | undefined) => void>();
  const start = (): ChildProcess => {
    const started = spawn('ip', helperArgs(options.netns), {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    started.on('message', (message: Answer, handle: unknown) => {
      const server = handle as Server | undefined;
      const waiter = waiting.get(message.id);
      // An answer after its request gave up: nobody accepts on that socket, so it goes.
      if (waiter) waiter(message, server);
      else server?.close();
    });
    started.once('exit', (code) => {
      if (child === started) child = undefined;
      for (const [id, answer] of waiting)
        answer({ id, error: `the helper ended (${code})` }, undefined);
      options.logger.info({ netns: options.netns, code }, 'netns listener helper ended');
    });
    started.on('error', () => undefined);
    return started;
  };
  const listen = (host: string): Promise<Server> => {
    child ??= start();
    const id = (next += 1);
    const helper = child;
    return new Promise<Server>((resolve, reject) => {
      const timer = setTimeout(() => done({ id, error: 'no answer' }, undefined), ANSWER_MS);
      const done = (answer: Answer, server: Server | undefined): void => {
        clearTimeout(timer);
        waiting.delete(id);
        if (server && answer.port !== undefined) resolve(server);
        else {
          server?.close();
          reject(
            new HostError(
              `cannot listen on ${host} in netns '${options.netns}': ${answer.error ?? 'no socket'}`,
            ),
          );
        }
      };
      waiting.set(id, done);
      helper.send({ id, host }, (error) => {
        if (error) done({ id, error: error.message }, undefined);
      });
    });
  };
  return {
    listen,
    close: async () => {
      const last = child;
      child = undefined;
      if (!last || last.exitCode !== null) return;
      const exited = new Promise((done) => last.once('exit', done));
      if (last.connected) last.disconnect();
      else last.kill('SIGTERM');
      await exited;
    },
  };
}

function helperArgs(netns: string): string[] {
  const here = import.meta.url;
  const fromSource = extname(fileURLToPath(here)) === '.ts';
  const entry = fileURLToPath(new URL(`./listener-main.${fromSource ? 'ts' : 'js'}`, here));
  return [
    ...['netns', 'exec', netns, process.execPath],
    ...(fromSource ? ['--import', import.meta.resolve('tsx')] : []),
    entry,
  ];
}
