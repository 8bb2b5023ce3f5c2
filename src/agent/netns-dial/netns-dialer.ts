/**
 * Connections into an agent's network namespace (`agent.netns`) from the agent's own process,
 * which stays in the host's: a dialer process runs inside the namespace (dialer-main.ts) on a
 * unix socket under the data dir, and each dial asks it for one `<ip> <port>`. It is restarted
 * when it dies. Published ports use it to reach guests an agent with `--netns` runs.
 */
import { mkdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { errorMessage, HostError } from '../../core/errors.ts';
import type { Clock } from '../../ports/clock.ts';
import type { Logger } from '../../ports/logger.ts';
import type { ProcessRunner, SpawnedProcess } from '../../ports/process-runner.ts';

/** Opens a TCP connection to `ip:port` where the guests are; it may come paused (splice resumes). */
export type GuestDial = (ip: string, port: number) => Promise<Socket>;

const READY_MS = 20_000;
const ANSWER_MS = 10_000;
const RESTART_MS = 1_000;

export interface NetnsDialer {
  dial: GuestDial;
  close(): Promise<void>;
}

export async function startNetnsDialer(options: {
  netns: string;
  dataDir: string;
  runner: ProcessRunner;
  clock: Clock;
  logger: Logger;
}): Promise<NetnsDialer> {
  const path = join(options.dataDir, 'netns-dial.sock');
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const here = import.meta.url;
  const fromSource = extname(fileURLToPath(here)) === '.ts';
  const entry = fileURLToPath(new URL(`./dialer-main.${fromSource ? 'ts' : 'js'}`, here));
  const args = [
    ...['netns', 'exec', options.netns, process.execPath],
    ...(fromSource ? ['--import', import.meta.resolve('tsx')] : []),
    entry,
    path,
  ];
  let child: SpawnedProcess | undefined;
  let closed = false;
  const start = (): void => {
    child = options.runner.spawn('ip', args, { logFile: join(options.dataDir, 'netns-dial.log') });
    const started = child;
    void started.exited.then((code) => {
      if (closed || child !== started) return;
      options.logger.warn({ code, netns: options.netns }, 'netns dialer ended; restarting');
      setTimeout(() => !closed && start(), RESTART_MS).unref();
    });
  };
  start();
  await waitForSocket(path, options.clock);
  options.logger.info({ netns: options.netns, socket: path }, 'netns dialer up');
  return {
    dial: (ip, port) => dialThrough(path, ip, port),
    close: async () => {
      closed = true;
      child?.kill('SIGTERM');
      await child?.exited;
    },
  };
}

async function waitForSocket(path: string, clock: Clock): Promise<void> {
  const until = clock.now().getTime() + READY_MS;
  for (;;) {
    const ok = await new Promise<boolean>((done) => {
      const probe = connect(path);
      probe.once('connect', () => (probe.destroy(), done(true)));
      probe.once('error', () => done(false));
    });
    if (ok) return;
    if (clock.now().getTime() > until) {
      throw new HostError(`the netns dialer did not listen on ${path} within ${READY_MS} ms`);
    }
    await clock.sleep(100);
  }
}

/** One connection through the dialer: the request line, its answer, then the stream itself. */
export function dialThrough(path: string, ip: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let answer = '';
    const timer = setTimeout(() => fail(new Error('the netns dialer did not answer')), ANSWER_MS);
    const onError = (error: Error): void => fail(new Error(errorMessage(error)));
    const fail = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      answer += chunk.toString('latin1');
      const end = answer.indexOf('\n');
      if (end === -1) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.pause();
      const line = answer.slice(0, end);
      const rest = Buffer.from(answer.slice(end + 1), 'latin1');
      if (line !== 'ok') {
        socket.destroy();
        reject(new Error(`connect ${ip}:${port} in the namespace: ${line.replace(/^error /, '')}`));
        return;
      }
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    socket.once('connect', () => socket.write(`${ip} ${port}\n`));
    // Closed before a whole answer: the dialer went away (a restart) or refused the line.
    const onClose = (): void => fail(new Error('the netns dialer closed without answering'));
    socket.once('close', onClose);
    socket.on('data', onData);
    socket.once('error', onError);
  });
}
