// The TypeScript/JavaScript candidate for the guest agent, reduced to what the benchmark
// measures: the version-1 line protocol (ping) plus a buffered exec, on the virtio-serial
// port `mvm.agent`, run by the Node runtime carried on mvm's drive.
import { execFile } from 'node:child_process';
import { Buffer } from 'node:buffer';
import { closeSync, openSync, read, readdirSync, readFileSync, writeSync } from 'node:fs';
import process from 'node:process';
import { setTimeout } from 'node:timers';

/* global console */

function findPort() {
  for (const dir of readdirSync('/sys/class/virtio-ports')) {
    const name = readFileSync(`/sys/class/virtio-ports/${dir}/name`, 'utf8').trim();
    if (name === 'mvm.agent') return `/dev/${dir}`;
  }
  throw new Error('no virtio-serial port mvm.agent');
}

const fd = openSync(findPort(), 'r+');
let pending = '';
const reply = (obj) => writeSync(fd, `${JSON.stringify(obj)}\n`);

function handle(line) {
  let req;
  try {
    req = JSON.parse(line);
  } catch {
    return;
  }
  if (req.op === 'ping') return reply({ id: req.id, ok: true, ready: true });
  if (req.op === 'exec') {
    const [file, ...args] = req.argv;
    return execFile(file, args, (error, stdout, stderr) =>
      reply({ id: req.id, ok: true, code: error ? (error.code ?? 1) : 0, stdout, stderr }),
    );
  }
  reply({ id: req.id, ok: false, error: 'unknown op' });
}

function loop() {
  read(fd, Buffer.alloc(65536), 0, 65536, null, (error, n, buf) => {
    // No host connected: the port reads EOF at once; look again shortly.
    if (error || n === 0) return setTimeout(loop, 50);
    pending += buf.subarray(0, n).toString('utf8');
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      handle(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
    loop();
  });
}
process.on('exit', () => closeSync(fd));
console.error(`MVM-AGENT-READY node ${process.version}`);
loop();
