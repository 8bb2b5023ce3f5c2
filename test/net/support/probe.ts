/**
 * Runs inside a test network namespace (`ip netns exec <ns> node --import tsx probe.ts ...`):
 *   serve <name> <port>            TCP and UDP echo: answers "<name> <caller address>"
 *   tcp|udp <ip> <port> <timeoutMs> prints the answer and exits 0, or exits 1 on silence
 *   http <url> '' <timeoutMs>       GET: prints "<status> <body>", exits 1 on no answer
 * Tests only ever point it at addresses inside namespaces they created.
 */
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';

const [mode = '', a = '', b = '', c = '1500'] = process.argv.slice(2);

function serve(name: string, port: number): void {
  const tcp = createServer((socket) => {
    socket.end(`${name} ${socket.remoteAddress ?? '?'}\n`);
  });
  const udp = createSocket('udp4');
  udp.on('message', (_msg, rinfo) =>
    udp.send(`${name} ${rinfo.address}\n`, rinfo.port, rinfo.address),
  );
  let bound = 0;
  const ready = (): void => {
    bound += 1;
    if (bound === 2) console.log('listening');
  };
  tcp.listen(port, '0.0.0.0', ready);
  udp.bind(port, '0.0.0.0', ready);
}

function done(answer: string | undefined): void {
  if (answer !== undefined) console.log(answer.trim());
  process.exit(answer === undefined ? 1 : 0);
}

function tcpProbe(ip: string, port: number, timeoutMs: number): void {
  let answer = '';
  const socket = connect({ host: ip, port });
  socket.setTimeout(timeoutMs, () => done(undefined));
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
  socket.on('end', () => done(answer === '' ? undefined : answer));
  socket.on('error', () => done(undefined));
}

function udpProbe(ip: string, port: number, timeoutMs: number): void {
  const socket = createSocket('udp4');
  setTimeout(() => done(undefined), timeoutMs);
  socket.on('message', (msg) => done(msg.toString()));
  socket.on('error', () => done(undefined));
  socket.send('ping', port, ip);
}

function httpProbe(url: string, timeoutMs: number): void {
  fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    .then(async (res) => done(`${res.status} ${await res.text()}`))
    .catch(() => done(undefined));
}

if (mode === 'serve') serve(a, Number(b));
else if (mode === 'tcp') tcpProbe(a, Number(b), Number(c));
else if (mode === 'udp') udpProbe(a, Number(b), Number(c));
else if (mode === 'http') httpProbe(a, Number(c));
else done(undefined);
