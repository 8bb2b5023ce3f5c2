/**
 * Runs inside the coordinator's test namespace (`ip netns exec <ns> node --import tsx ...`):
 *   ns-forwarder.ts <unix socket> <host> <port>
 * Pipes every connection on the unix socket to <host>:<port> in that namespace, so the test
 * process (root namespace) reaches the coordinator without any link into the root namespace.
 * Prints "listening" once bound.
 */
import { rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';

const [socket = '', host = '', port = '0'] = process.argv.slice(2);

const server = createServer((client) => {
  const upstream = connect({ host, port: Number(port) });
  client.pipe(upstream).pipe(client);
  const end = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', end);
  upstream.on('error', end);
  client.on('close', end);
  upstream.on('close', end);
});
rmSync(socket, { force: true });
server.listen(socket, () => console.log('listening'));
