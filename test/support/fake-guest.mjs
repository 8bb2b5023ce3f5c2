// A fake guest agent in its own process, speaking bytes on a unix socket as QEMU's
// virtio-serial chardev would offer them: answers hello (version 2), then either answers
// every request `{ok:true}` (`answer`) or floods the host with empty frames on a stream
// nobody opened (`flood`), as fast as the socket takes them. Prints `listening` when ready
// and, in flood mode, the bytes it got written every 200 ms (`wrote <n>`), one a line.
import { Buffer } from 'node:buffer';
import { createServer } from 'node:net';
import process from 'node:process';
import { clearInterval, setInterval } from 'node:timers';

const [path, mode] = process.argv.slice(2);
const MAGIC = 0xb7;

function frame(type, stream, payload = Buffer.alloc(0)) {
  const header = Buffer.alloc(10);
  header[0] = MAGIC;
  header[1] = type;
  header.writeUInt32BE(stream >>> 0, 2);
  header.writeUInt32BE(payload.length, 6);
  return Buffer.concat([header, payload]);
}

function hello(id) {
  const caps = ['status', 'wake', 'drives', 'drain', 'exec'];
  const answer = { id, ok: true, proto: 2, agent: 'fake', version: '0', caps };
  return `${JSON.stringify({ ...answer, max_frame_in: 32768, max_frame_out: 65536, boot_id: 'b' })}\n`;
}

function answerRequests(socket, pending) {
  let buffer = pending;
  socket.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 10) {
      const length = buffer.readUInt32BE(6);
      if (buffer.length < 10 + length) break;
      const stream = buffer.readUInt32BE(2);
      if (buffer[1] === 1) socket.write(frame(2, stream, Buffer.from('{"ok":true}')));
      buffer = buffer.subarray(10 + length);
    }
  });
}

function flood(socket) {
  // 6,500 empty frames per write: the cheapest bytes for a guest, the dearest for a parser.
  const burst = Buffer.concat(Array.from({ length: 6500 }, () => frame(2, 0x7ffffff0)));
  let wrote = 0;
  const push = () => {
    while (!socket.destroyed && socket.write(burst)) wrote += burst.length;
  };
  socket.on('drain', () => {
    wrote += burst.length;
    push();
  });
  socket.on('error', () => undefined);
  const timer = setInterval(() => process.stdout.write(`wrote ${wrote}\n`), 200);
  socket.on('close', () => clearInterval(timer));
  push();
}

const server = createServer((socket) => {
  let received = Buffer.alloc(0);
  const onHello = (chunk) => {
    received = Buffer.concat([received, chunk]);
    const nl = received.indexOf(0x0a);
    if (nl < 0) return;
    socket.off('data', onHello);
    const { id } = JSON.parse(received.subarray(0, nl).toString('utf8'));
    socket.write(hello(id));
    if (mode === 'flood') flood(socket);
    else answerRequests(socket, received.subarray(nl + 1));
  };
  socket.on('data', onHello);
  socket.on('error', () => undefined);
});
server.listen(path, () => process.stdout.write('listening\n'));
