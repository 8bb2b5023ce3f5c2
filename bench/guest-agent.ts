/**
 * Which guest agent: the figures behind the choice (docs/guest-protocol.md). Boots the dev
 * image under QEMU (TCG here) with each candidate on mvm's init drive and prints, side by
 * side: cold start to the agent's first answer, the agent's RSS and the guest's MemAvailable
 * drop against a guest with no agent, and the ping and exec round trips.
 *   - static: the C agent (src/guest/agent), as shipped;
 *   - node:   a JS agent (bench/guest-agent/node-agent.mjs) on the host's Node runtime and its
 *             glibc libraries, carried on the drive (what a TypeScript agent needs at least);
 *   - busybox: the version-1 shell agent (src/guest/agent.sh), no exec at all.
 * `npx tsx bench/guest-agent.ts [N]` (N boots per candidate, default 3).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDevImage } from '../src/drivers/dev-image/build-dev-image.ts';
import type { DevImage } from '../src/drivers/dev-image/build-dev-image.ts';
import { DEFAULT_CACHE_DIR } from '../src/drivers/dev-image/cache-dir.ts';
import { ensureGuestAgent } from '../src/drivers/dev-image/guest-agent-binary.ts';
import { MVM_INIT_PATH } from '../src/drivers/dev-image/guest-channels.ts';
import { initDriveEntries } from '../src/drivers/dev-image/init-drive.ts';
import { buildRootfsImage } from '../src/drivers/dev-image/rootfs.ts';
import { sharedLibraries } from '../src/drivers/dev-image/shared-libs.ts';
import type { CpioEntry } from '../src/drivers/dev-image/cpio-newc.ts';
import { GuestAgentClient } from '../src/drivers/guest-channel/guest-agent-client.ts';
import { GuestClient } from '../src/drivers/guest-channel/guest-client.ts';
import { unixSocketTransport } from '../src/drivers/guest-channel/guest-transport.ts';
import { NodeProcessRunner } from '../src/drivers/process/node-process-runner.ts';
import { QemuVmm } from '../src/drivers/qemu/qemu-vmm.ts';
import type { VmHandle } from '../src/ports/vmm.ts';
import { median } from './support/stats.ts';

const runs = Number(process.argv[2] ?? process.env['MVM_BENCH_RUNS'] ?? 3);
const runner = new NodeProcessRunner();
const vmm = new QemuVmm({ runner, accel: 'tcg' });
const NODE_AGENT = fileURLToPath(new URL('./guest-agent/node-agent.mjs', import.meta.url));
const AGENT_SH = fileURLToPath(new URL('../src/guest/agent.sh', import.meta.url));

type Variant = 'none' | 'static' | 'node' | 'busybox';

/**
 * The shipped init with its last step replaced: the candidate runs in the background and a
 * loop prints the guest's MemAvailable and the candidate's RSS to the console every second.
 */
function benchInit(init: string): string {
  const head = init.slice(0, init.indexOf('case $agent in'));
  return `${head}case $agent in
  none) sleep 100000 & ;;
  busybox) /mvm/bin/sh /mvm/lib/agent.sh mvm.agent & ;;
  node) /mvm/node/${LOADER} --library-path /mvm/node /mvm/node/node /mvm/lib/node-agent.mjs & ;;
  *) /mvm/bin/mvm-agent serve --port mvm.agent & ;;
esac
pid=$!
while :; do
  sleep 1
  avail=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
  rss=$(awk '/^VmRSS:/ {print $2}' /proc/$pid/status)
  echo "MVM-BENCH avail=$avail rss=$rss"
done
`;
}

let LOADER = 'ld-linux-x86-64.so.2';

async function benchDrive(dir: string): Promise<string> {
  const busybox = await readFile('/bin/busybox');
  const applets = (await runner.run('/bin/busybox', ['--list'])).stdout.split('\n').filter(Boolean);
  const agent = await readFile((await ensureGuestAgent(DEFAULT_CACHE_DIR, runner)).path);
  const init = benchInit(await readFile(MVM_INIT_PATH, 'utf8'));
  const entries: CpioEntry[] = initDriveEntries({
    busybox,
    applets,
    init,
    agent,
    agentSh: await readFile(AGENT_SH, 'utf8'),
  });
  entries.push({ kind: 'file', path: 'lib/node-agent.mjs', data: await readFile(NODE_AGENT) });
  entries.push({ kind: 'dir', path: 'node' });
  const node = process.execPath;
  entries.push({ kind: 'file', path: 'node/node', data: await readFile(node), mode: 0o755 });
  for (const lib of await sharedLibraries(runner, node)) {
    if (lib.includes('ld-linux')) LOADER = basename(lib);
    entries.push({
      kind: 'file',
      path: `node/${basename(lib)}`,
      data: await readFile(lib),
      mode: 0o755,
    });
  }
  const path = join(dir, 'bench-init.ext4');
  await buildRootfsImage(runner, path, entries, 'mkfs.ext4', 'mvm-init');
  return path;
}

interface Figures {
  readyMs?: number;
  availKb: number;
  rssKb: number;
  pingMs?: number;
  execMs?: number;
}

async function consoleFigures(
  vm: VmHandle,
  after: number,
): Promise<{ avail: number; rss: number }> {
  for (;;) {
    const log = await readFile(join(vm.workDir, 'console.log'), 'utf8').catch(() => '');
    const lines = [...log.matchAll(/MVM-BENCH avail=(\d+) rss=(\d*)/g)];
    if (lines.length > after) {
      const last = lines.at(-1);
      return { avail: Number(last?.[1]), rss: Number(last?.[2] || 0) };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function roundTrips(
  variant: Variant,
  vm: VmHandle,
): Promise<Pick<Figures, 'pingMs' | 'execMs'>> {
  const ping: number[] = [];
  const exec: number[] = [];
  if (variant === 'static') {
    const client = new GuestAgentClient(unixSocketTransport(vm.guestSocket));
    await client.waitReady(30_000);
    for (let i = 0; i < 30; i += 1) ping.push(await timeOf(() => client.ping()));
    for (let i = 0; i < 10; i += 1) {
      exec.push(await timeOf(async () => (await client.exec({ argv: ['true'] })).exit));
    }
    client.close();
  } else {
    const lines = await LineClient.open(vm.guestSocket);
    for (let i = 0; i < 30; i += 1) ping.push(await timeOf(() => lines.call({ op: 'ping' })));
    if (variant === 'node') {
      for (let i = 0; i < 10; i += 1) {
        exec.push(await timeOf(() => lines.call({ op: 'exec', argv: ['true'] })));
      }
    }
    lines.close();
  }
  return { pingMs: median(ping), ...(exec.length ? { execMs: median(exec) } : {}) };
}

/** Version-1 lines (`{"id":n,...}` each way), for the candidates that speak only those. */
class LineClient {
  private buffer = '';
  private next = 1;
  private waiting = new Map<number, () => void>();
  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
        const id = (JSON.parse(this.buffer.slice(0, nl)) as { id: number }).id;
        this.buffer = this.buffer.slice(nl + 1);
        this.waiting.get(id)?.();
      }
    });
  }
  static open(path: string): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path, () => resolve(new LineClient(socket)));
      socket.once('error', reject);
    });
  }
  call(body: Record<string, unknown>): Promise<void> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.socket.write(`${JSON.stringify({ id, ...body })}\n`);
    });
  }
  close(): void {
    this.socket.destroy();
  }
}

async function timeOf(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

async function oneBoot(
  image: DevImage,
  drive: string,
  variant: Variant,
  dir: string,
): Promise<Figures> {
  const workDir = await mkdtemp(join(dir, `${variant}-`));
  const started = performance.now();
  const vm = await vmm.start({
    key: `mvm-bench-${variant}`,
    workDir,
    vcpus: 1,
    memMib: 256,
    kernelPath: image.vmlinux,
    initrdPath: image.initrd,
    cmdline: `${image.cmdlineBase} mvm.hostname=bench mvm.agent=${variant}`,
    drives: [
      { id: 'rootfs', path: image.rootfs, readOnly: true },
      { id: 'mvm-init', path: drive, readOnly: true },
    ],
    nets: [],
  });
  try {
    let readyMs: number | undefined;
    if (variant !== 'none') {
      const client = new GuestClient(unixSocketTransport(vm.guestSocket));
      await client.waitReady(120_000);
      readyMs = performance.now() - started;
      client.close();
    }
    const trips = variant === 'none' ? {} : await roundTrips(variant, vm);
    // Settled figures: a few seconds after readiness (node's heap grows at start).
    await consoleFigures(vm, 0);
    const count = (await readFile(join(workDir, 'console.log'), 'utf8')).split('MVM-BENCH').length;
    const mem = await consoleFigures(vm, count + 2);
    return { ...(readyMs ? { readyMs } : {}), availKb: mem.avail, rssKb: mem.rss, ...trips };
  } finally {
    await vmm.stop(vm);
  }
}

async function main(): Promise<void> {
  const image = await buildDevImage({ runner });
  const dir = await mkdtemp('/tmp/mvm-bench-agent-');
  try {
    const drive = await benchDrive(dir);
    const results = new Map<Variant, Figures[]>();
    for (let run = 0; run < runs; run += 1) {
      for (const variant of ['none', 'static', 'node', 'busybox'] as const) {
        const figures = await oneBoot(image, drive, variant, dir);
        results.set(variant, [...(results.get(variant) ?? []), figures]);
        console.error(`run ${run + 1} ${variant}: ${JSON.stringify(figures)}`);
      }
    }
    print(results);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function print(results: Map<Variant, Figures[]>): void {
  const base = median((results.get('none') ?? []).map((f) => f.availKb));
  const pick = (list: Figures[], key: keyof Figures): string => {
    const values = list.map((f) => f[key]).filter((v): v is number => v !== undefined);
    return values.length ? median(values).toFixed(key.endsWith('Ms') ? 1 : 0) : 'n/a';
  };
  console.log(`guest agent candidates, QEMU TCG, 256 MiB guest, medians of ${runs} boots`);
  console.log(
    'agent    | boot->ready ms | agent RSS KiB | MemAvailable drop KiB | ping ms | exec true ms',
  );
  for (const variant of ['static', 'node', 'busybox'] as const) {
    const list = results.get(variant) ?? [];
    const drop = base - median(list.map((f) => f.availKb));
    console.log(
      `${variant.padEnd(8)} | ${pick(list, 'readyMs').padStart(14)} | ${pick(list, 'rssKb').padStart(13)} | ${String(Math.round(drop)).padStart(21)} | ${pick(list, 'pingMs').padStart(7)} | ${pick(list, 'execMs').padStart(12)}`,
    );
  }
}

await main();
