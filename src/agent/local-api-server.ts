import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { dirname } from 'node:path';
import { getRequestListener } from '@hono/node-server';
import { createAgentApp } from './api.ts';
import type { RuntimeDeps } from './runtime/deps.ts';
import type { InstanceRuntime } from './runtime/instance-runtime.ts';

/** Serves the agent's local API on a unix socket (mode 0600: root only); resolves to its stop. */
export async function serveLocalApi(
  socket: string,
  runtime: InstanceRuntime,
  deps: RuntimeDeps,
): Promise<() => Promise<void>> {
  const app = createAgentApp(runtime, deps, deps.logger);
  await mkdir(dirname(socket), { recursive: true, mode: 0o700 });
  await rm(socket, { force: true });
  const server = createServer(getRequestListener(app.fetch));
  await listen(server, socket);
  await chmod(socket, 0o600);
  return async () => {
    await new Promise<void>((done) => server.close(() => done()));
    await rm(socket, { force: true });
  };
}

function listen(server: Server, socket: string): Promise<void> {
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(socket, () => done());
  });
}
