/**
 * The listener helper inside an agent's network namespace (`ip netns exec <ns> node
 * listener-main.js`), started by netns-listener.ts with a Node IPC channel as fd 3, which
 * `ip netns exec` passes on as it execs in place. Each message `{ id, host }` asks for a TCP
 * listening socket bound in this namespace: the helper listens on `host`, port 0, sends the
 * socket back over the channel (SCM_RIGHTS) with `{ id, port }` and closes its own copy, so
 * only the agent accepts on it. `{ id, error }` when it cannot. It ends with its channel.
 */
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const HOST = /^\d{1,3}(?:\.\d{1,3}){3}$/;

interface ListenRequest {
  id: number;
  host: string;
}

function isRequest(message: unknown): message is ListenRequest {
  const m = message as Partial<ListenRequest> | null;
  return typeof m?.id === 'number' && typeof m.host === 'string';
}

export function serveListens(send: NonNullable<typeof process.send>): (message: unknown) => void {
  return (message) => {
    if (!isRequest(message)) return;
    const { id, host } = message;
    if (!HOST.test(host)) {
      send({ id, error: `bad listen address '${host}'` });
      return;
    }
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      send({ id, error: error.code ?? error.message }),
    );
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      send({ id, port }, server, {}, () => server.close());
    });
  };
}

const invoked = process.argv[1] ? pathToFileURL(resolve(process.argv[1])).href : '';
if (import.meta.url === invoked) {
  const send = process.send?.bind(process);
  if (!send) {
    process.stderr.write('listener-main needs a Node IPC channel (netns-listener.ts)\n');
    process.exitCode = 2;
  } else {
    // Once the channel closes (the agent disconnected or died) nothing holds the loop: it ends.
    process.on('message', serveListens(send));
  }
}
