/**
 * A sleeping instance moved between two agents' data dirs on this host, with a real guest
 * (QEMU, TCG): a file written to its data disk before the sleep is read back after the wake
 * on the other agent, which keeps its identity (boot id, hostname, IP) and its RAM (no
 * reboot). The transfer is cut short once and corrupted once on the way: the cut resumes
 * at the byte it reached, the corrupted part is refused and fetched again.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportInstance, importInstance } from '../../src/agent/move/instance-bundle.ts';
import { openPart } from '../../src/agent/move/bundle-source.ts';
import { transferBundle } from '../../src/agent/move/bundle-transfer.ts';
import { guestOf } from '../../src/agent/runtime/guest-access.ts';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';
import { execText } from '../support/exec-output.ts';
import {
  agentDataDir,
  quietLogger,
  ref,
  tcgVmm,
  testAgentConfig,
  workerSpec,
} from './agent-harness.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('move a sleeping instance');

describe.runIf(gate.run)('move a sleeping instance between agents', () => {
  const vm = ref('mv1');
  const body = { spec: workerSpec('10.240.99.31', '52:54:00:00:99:31'), secrets: { K: 'v' } };
  const dirs: string[] = [];
  let source: AgentHandle | undefined;
  let target: AgentHandle | undefined;

  const start = async (label: string) => {
    const dataDir = await agentDataDir(label);
    dirs.push(dataDir);
    return startAgent(testAgentConfig(dataDir), {
      mode: 'runtime',
      vmm: tcgVmm(),
      logger: quietLogger,
      network: null,
    });
  };
  const run = async (agent: AgentHandle, record: VmRecord, script: string) =>
    execText(guestOf(agent.deps, record), { argv: ['sh', '-c', script] });

  beforeAll(async () => {
    source = await start('mvsrc');
    target = await start('mvdst');
  });

  afterAll(async () => {
    for (const agent of [source, target]) {
      if (!agent) continue;
      await agent.runtime.act(vm, 'destroy').catch(() => undefined);
      await agent.close();
    }
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('wakes on the target with its data disk and identity, after a cut and a corrupted transfer', async () => {
    const from = source!;
    const to = target!;
    await from.runtime.put(vm, body);
    let record = await from.runtime.act(vm, 'start');
    const wrote = await run(
      from,
      record,
      'echo moved-$((6*7)) > /data/moved.txt && sync && cat /data/moved.txt',
    );
    expect(wrote.stdout).toBe('moved-42\n');
    const before = await guestOf(from.deps, record).status();
    record = await from.runtime.act(vm, 'sleep');
    expect(record.status).toBe('sleeping');

    const work = await mkdtemp(join(tmpdir(), 'mvm-move-'));
    dirs.push(work);
    const outbox = join(work, 'outbox');
    const inbox = join(work, 'inbox');
    const manifest = await exportInstance(from.deps, from.runtime, vm, outbox);
    expect(manifest.parts.map((p) => p.name)).toContain('data.ext4');
    expect(manifest.parts.some((p) => p.name.startsWith('snapshot.'))).toBe(true);
    const biggest = [...manifest.parts].sort((a, b) => b.bytes - a.bytes)[0]!;
    let calls = 0;
    const opened: Array<[string, number]> = [];
    const report = await transferBundle(manifest, inbox, async (name, offset) => {
      opened.push([name, offset]);
      const stream = openPart(outbox, manifest, name, offset);
      if (name !== biggest.name) return stream;
      calls += 1;
      if (calls === 1) {
        // The link breaks a third of the way in.
        let sent = 0;
        const third = Math.floor(biggest.bytes / 3);
        return stream.pipe(
          new Transform({
            transform(chunk: Buffer, _e, done) {
              const room = third - sent;
              sent += chunk.length;
              if (room <= 0) return done();
              done(null, chunk.subarray(0, room));
            },
          }),
        );
      }
      if (calls === 2) {
        return stream.pipe(
          new Transform({
            transform(chunk: Buffer, _e, done) {
              const copy = Buffer.from(chunk);
              copy[0] = (copy[0] ?? 0) ^ 0xff;
              done(null, copy);
            },
          }),
        );
      }
      return stream;
    });
    const resumedAt = opened.filter(([n]) => n === biggest.name).map(([, offset]) => offset);
    expect(resumedAt[0]).toBe(0);
    expect(resumedAt[1]).toBe(Math.floor(biggest.bytes / 3));
    expect(resumedAt[2]).toBe(0);
    expect(report.refetched).toEqual([biggest.name]);

    const imported = await importInstance(to.deps, to.runtime, vm, body, inbox, manifest);
    expect(imported).toMatchObject({ status: 'sleeping', spec: record.spec });
    // The move is done: the source gives up its copy before the target wakes it.
    await from.runtime.act(vm, 'destroy');
    const woken = await to.runtime.act(vm, 'wake');
    expect(woken.status).toBe('running');
    const after = await guestOf(to.deps, woken).status();
    expect(after).toMatchObject({ boot_id: before.boot_id, hostname: 'mv1', ip: '10.240.99.31' });
    expect(after.counter).toBeGreaterThanOrEqual(before.counter);
    const read = await run(to, woken, 'cat /data/moved.txt');
    expect(read.stdout).toBe('moved-42\n');
    await expect(exportInstance(to.deps, to.runtime, vm, join(work, 'again'))).rejects.toThrow(
      /is running; only a sleeping or stopped instance moves/,
    );
  }, 600_000);
});
