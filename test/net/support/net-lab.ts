/**
 * Network namespaces for tenant-network tests: "nodes" (where the driver runs), "guests"
 * (a namespace whose veth host end sits on a tenant bridge exactly where a VMM's tap would)
 * and probes between them. Every namespace is named `mvmt-<pid>-...` and removed by
 * `cleanup()`; no test ever touches the root namespace or sends traffic outside these.
 */
import { join } from 'node:path';
import { systemClock } from '../../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../../src/drivers/process/wait-until.ts';
import { readFile } from 'node:fs/promises';
import { NodeProcessRunner } from '../../../src/drivers/process/node-process-runner.ts';
import { probeProcess } from '../../../src/drivers/process/process-control.ts';
import type { RunResult, SpawnedProcess } from '../../../src/ports/process-runner.ts';
import { gateOf, missingRootAndTools, type SuiteGate } from '../../support/gate.ts';

export const runner = new NodeProcessRunner();
const PROBE = join(import.meta.dirname, 'probe.ts');

export interface GuestSpec {
  /** The host end's name, as the tap would be named. */
  tap: string;
  ip: string;
  mac: string;
  gateway: string;
}

export class NetLab {
  readonly prefix = `mvmt-${process.pid}-`;
  private readonly namespaces: string[] = [];
  private readonly processes: SpawnedProcess[] = [];

  constructor(private readonly logDir: string) {}

  async namespace(label: string): Promise<string> {
    const name = `${this.prefix}${label}`;
    await runner.run('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    await runner.run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  exec(ns: string, command: string, args: readonly string[]): Promise<RunResult> {
    return runner.run('ip', ['netns', 'exec', ns, command, ...args], {
      check: false,
      timeoutMs: 20_000,
    });
  }

  async ip(ns: string, args: readonly string[]): Promise<void> {
    await runner.run('ip', ['-n', ns, ...args]);
  }

  /** A guest namespace wired to `nodeNs` by a veth whose node end is named like a tap. */
  async guest(nodeNs: string, label: string, spec: GuestSpec): Promise<string> {
    const ns = await this.namespace(label);
    await this.ip(nodeNs, [
      'link',
      'add',
      spec.tap,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      ns,
    ]);
    await this.ip(ns, ['link', 'set', 'eth0', 'address', spec.mac]);
    await this.ip(ns, ['addr', 'add', `${spec.ip}/24`, 'dev', 'eth0']);
    await this.ip(ns, ['link', 'set', 'eth0', 'up']);
    await this.ip(ns, ['route', 'add', 'default', 'via', spec.gateway]);
    return ns;
  }

  /** Joins two namespaces with a veth pair, each end addressed (underlay, uplink). */
  async link(
    a: string,
    aName: string,
    aCidr: string,
    b: string,
    bName: string,
    bCidr: string,
  ): Promise<void> {
    await this.ip(a, ['link', 'add', aName, 'type', 'veth', 'peer', 'name', bName, 'netns', b]);
    await this.ip(a, ['addr', 'add', aCidr, 'dev', aName]);
    await this.ip(b, ['addr', 'add', bCidr, 'dev', bName]);
    await this.ip(a, ['link', 'set', aName, 'up']);
    await this.ip(b, ['link', 'set', bName, 'up']);
  }

  async ping(ns: string, ip: string, from?: string): Promise<boolean> {
    const source = from === undefined ? [] : ['-I', from];
    const result = await this.exec(ns, 'busybox', ['ping', '-c', '1', '-W', '2', ...source, ip]);
    return result.exitCode === 0;
  }

  /** Starts the TCP+UDP echo server in `ns`; it answers "<name> <caller address>". */
  serve(ns: string, name: string, port: number): Promise<void> {
    return this.start(ns, `echo-${name}-${port}`, PROBE, ['serve', name, String(port)]);
  }

  /** Runs a TypeScript script inside `ns` until cleanup; resolves once it prints "listening". */
  async start(ns: string, label: string, script: string, args: readonly string[]): Promise<void> {
    const logFile = join(this.logDir, `${ns}-${label}.log`);
    const full = ['netns', 'exec', ns, process.execPath, '--import', 'tsx', script, ...args];
    this.processes.push(runner.spawn('ip', full, { logFile }));
    await waitUntil(
      async () =>
        (await readFile(logFile, 'utf8').catch(() => '')).includes('listening') ? true : undefined,
      { clock: systemClock, timeoutMs: 10_000, intervalMs: 50, what: `${label} in ${ns}` },
    );
  }

  /** `GET url` from inside `ns`: "<status> <body>", or undefined when nothing answered. */
  async httpGet(ns: string, url: string): Promise<string | undefined> {
    const result = await this.exec(ns, process.execPath, [
      '--import',
      'tsx',
      PROBE,
      'http',
      url,
      '',
      '2000',
    ]);
    return result.exitCode === 0 ? result.stdout.trim() : undefined;
  }

  /** The server's answer, or undefined when nothing came back in time. */
  async probe(
    ns: string,
    proto: 'tcp' | 'udp',
    ip: string,
    port: number,
  ): Promise<string | undefined> {
    const args = ['--import', 'tsx', PROBE, proto, ip, String(port), '1500'];
    const result = await this.exec(ns, process.execPath, args);
    return result.exitCode === 0 ? result.stdout.trim() : undefined;
  }

  /** Kills every server, then deletes every namespace (which takes their links along). */
  async cleanup(): Promise<void> {
    for (const p of this.processes.splice(0)) p.kill('SIGKILL');
    for (const ns of this.namespaces.splice(0).reverse()) {
      await runner.run('ip', ['netns', 'del', ns], { check: false });
    }
  }
}

/** Namespaces left by a test run that was killed before its afterAll (its pid is gone). */
export async function reapStaleNamespaces(): Promise<void> {
  const listed = await runner.run('ip', ['netns', 'list'], { check: false });
  for (const line of listed.stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const pid = /^mvmt-(\d+)-/.exec(name)?.[1];
    if (pid !== undefined && probeProcess(Number(pid)) === 'gone') {
      await runner.run('ip', ['netns', 'del', name], { check: false });
    }
  }
}

/** Tests need root, iproute2, nft and busybox; skip loudly without them, fail under CI. */
export async function netGate(suite: string): Promise<SuiteGate> {
  const missing = await missingRootAndTools({
    ip: ['-V'],
    bridge: ['-V'],
    nft: ['--version'],
    busybox: ['true'],
  });
  if (missing.length === 0) await reapStaleNamespaces();
  return gateOf(suite, missing);
}
