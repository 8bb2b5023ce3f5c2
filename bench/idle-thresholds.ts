/**
 * What an idle guest costs the host, as the activity tracker sees it: a dev-image (busybox)
 * QEMU guest on a tap in a bridge of its own, sampled every 5 s like the agent does. Phases:
 * idle (agent only), an idle workload (busybox httpd listening, nobody calling), then light
 * use (one ping a second from the bridge, one HTTP request every 5 s), and a little computing
 * (a shell loop counting to 2,000 once a second). Prints per-phase CPU
 * (share of one host CPU) and tap bytes/s, and the thresholds that separate idle from light
 * use. Runs itself inside a network namespace it creates (`npx tsx bench/idle-thresholds.ts
 * [phase seconds]`, default 30; root).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_ACTIVITY_THRESHOLDS } from '../src/agent/activity/activity-decision.ts';
import { HostActivityProbe } from '../src/drivers/activity/host-activity-probe.ts';
import { buildDevImage, imageDrives } from '../src/drivers/dev-image/build-dev-image.ts';
import { GuestAgentClient } from '../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../src/drivers/guest-channel/guest-transport.ts';
import { NodeProcessRunner } from '../src/drivers/process/node-process-runner.ts';
import { createQemuVmm } from '../src/drivers/qemu/create-qemu-vmm.ts';
import type { VmHandle } from '../src/ports/vmm.ts';
import { inOwnNetns } from './support/own-netns.ts';

const phaseSecs = Number(process.argv[2] ?? 30);
const SAMPLE_MS = 5_000;

interface Window {
  cpuShare: number;
  netBytesPerSec: number;
}

async function main(): Promise<void> {
  const runner = new NodeProcessRunner();
  const ip = (args: string[]) => runner.run('ip', args);
  await ip(['link', 'set', 'lo', 'up']);
  await ip(['link', 'add', 'br0', 'type', 'bridge']);
  await ip(['addr', 'add', '10.250.0.1/24', 'dev', 'br0']);
  await ip(['link', 'set', 'br0', 'up']);
  await ip(['tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
  await ip(['link', 'set', 'tap0', 'master', 'br0', 'up']);
  const image = await buildDevImage({ runner });
  const { vmm, verdict } = await createQemuVmm({ runner });
  const workDir = await mkdtemp(join(tmpdir(), 'mvm-bench-idle-'));
  let vm: VmHandle | undefined;
  try {
    vm = await vmm.start({
      key: 'mvm-bench-idle',
      workDir,
      vcpus: 1,
      memMib: 256,
      kernelPath: image.vmlinux,
      initrdPath: image.initrd,
      cmdline: `${image.cmdlineBase} mvm.hostname=idle mvm.ip=10.250.0.2/24 mvm.gw=10.250.0.1`,
      drives: imageDrives(image),
      nets: [{ id: 'net0', tap: 'tap0', mac: '02:fc:00:00:00:02' }],
    });
    const guest = new GuestAgentClient(unixSocketTransport(vm.guestSocket));
    await guest.waitReady(120_000);
    console.log(`accel ${verdict.accel}; ${phaseSecs} s per phase, a sample every 5 s`);
    // Let boot-time work (module loads, first timers) settle before calling it idle.
    await sleep(10_000);
    const results: Array<[string, Window[]]> = [];
    results.push(['idle guest (agent only)', await sampleFor(vm.pid)]);
    const httpd = await guest.exec({ argv: ['httpd', '-f', '-p', '8080', '-h', '/'] });
    httpd.stdout.resume();
    httpd.stderr.resume();
    results.push(['idle workload (httpd, no calls)', await sampleFor(vm.pid)]);
    const light = lightUse();
    report(...results[0]!);
    report(...results[1]!);
    results.push(['light use (ping 1/s, HTTP 1/5 s)', await sampleFor(vm.pid)]);
    light.stop();
    await httpd.signal('KILL');
    report(...results[2]!);
    // A little computing: the shell counts to 2,000 once a second.
    const loop = 'while :; do i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; sleep 1; done';
    const work = await guest.exec({ argv: ['sh', '-c', loop] });
    work.stdout.resume();
    work.stderr.resume();
    results.push(['light CPU (count to 2000 each second)', await sampleFor(vm.pid)]);
    await work.signal('KILL');
    report(...results[3]!);
    suggest(results);
    guest.close();
  } finally {
    if (vm) await vmm.stop(vm);
    await rm(workDir, { recursive: true, force: true });
  }
}

function lightUse(): { stop(): void } {
  const ping = new NodeProcessRunner().spawn('busybox', ['ping', '-i', '1', '10.250.0.2']);
  const timer = setInterval(() => {
    void fetch('http://10.250.0.2:8080/').catch(() => undefined);
  }, 5_000);
  return {
    stop() {
      clearInterval(timer);
      ping.kill('SIGKILL');
    },
  };
}

async function sampleFor(pid: number): Promise<Window[]> {
  const probe = new HostActivityProbe();
  const read = async () => ({
    at: Date.now(),
    ...(await probe.read({ key: 'x', pid, tap: 'tap0' })),
  });
  const windows: Window[] = [];
  let before = await read();
  for (let elapsed = 0; elapsed < phaseSecs * 1000; elapsed += SAMPLE_MS) {
    await sleep(SAMPLE_MS);
    const after = await read();
    const ms = after.at - before.at;
    windows.push({
      cpuShare: ((after.cpuUsec ?? 0) - (before.cpuUsec ?? 0)) / (ms * 1000),
      netBytesPerSec: (((after.netBytes ?? 0) - (before.netBytes ?? 0)) * 1000) / ms,
    });
    before = after;
  }
  return windows;
}

const range = (values: number[]) => [Math.min(...values), Math.max(...values)];

function report(name: string, windows: Window[]): void {
  const [cpuLo, cpuHi] = range(windows.map((w) => w.cpuShare * 100));
  const [netLo, netHi] = range(windows.map((w) => w.netBytesPerSec));
  console.log(
    `${name.padEnd(34)} CPU ${cpuLo!.toFixed(2)}–${cpuHi!.toFixed(2)} % of one CPU   tap ${netLo!.toFixed(0)}–${netHi!.toFixed(0)} B/s`,
  );
}

function suggest(results: Array<[string, Window[]]>): void {
  const idle = results.slice(0, 2).flatMap(([, w]) => w);
  const net = results[2]?.[1] ?? [];
  const cpu = results[3]?.[1] ?? [];
  const idleCpu = Math.max(...idle.map((w) => w.cpuShare * 100));
  const idleNet = Math.max(...idle.map((w) => w.netBytesPerSec));
  const busyNet = Math.min(...net.map((w) => w.netBytesPerSec));
  const busyCpu = Math.min(...cpu.map((w) => w.cpuShare * 100));
  console.log(
    `idle windows peak at ${idleCpu.toFixed(2)} % CPU and ${idleNet.toFixed(0)} B/s; light network use at least ${busyNet.toFixed(0)} B/s, light computing at least ${busyCpu.toFixed(2)} % CPU`,
  );
  console.log(
    `thresholds in use: ${DEFAULT_ACTIVITY_THRESHOLDS.cpuShare * 100} % CPU, ${DEFAULT_ACTIVITY_THRESHOLDS.netBytesPerSecond} B/s`,
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

await inOwnNetns('mvmb-idle', [String(phaseSecs)], main);
