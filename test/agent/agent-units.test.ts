/** The agent's small pure-ish pieces: resource naming, per-key serialization, the local store. */
import Database from 'better-sqlite3';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { KeyedMutex } from '../../src/agent/runtime/keyed-mutex.ts';
import { defaultTapName, vmKey } from '../../src/agent/runtime/vm-key.ts';
import { openAgentDb } from '../../src/agent/state/open-agent-db.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';

describe('vm keys and tap names', () => {
  it('are deterministic, mvm-prefixed and short enough', () => {
    expect(vmKey('acme', 'web', 'vm1')).toBe('mvm-acme-web-vm1');
    const long = vmKey('a'.repeat(40), 'b'.repeat(40), 'c'.repeat(40));
    expect(long).toMatch(/^mvm-a+-[0-9a-f]{8}$/);
    expect(long.length).toBeLessThanOrEqual(40);
    expect(vmKey('a'.repeat(40), 'b'.repeat(40), 'c'.repeat(39))).not.toBe(long);
    expect(defaultTapName('mvm-acme-web-vm1')).toMatch(/^mvm-[0-9a-f]{11}$/);
    expect(defaultTapName('mvm-acme-web-vm1')).toBe(defaultTapName('mvm-acme-web-vm1'));
  });
});

describe('KeyedMutex', () => {
  it('serializes one key, runs different keys in parallel, survives a failure', async () => {
    const mutex = new KeyedMutex();
    const order: string[] = [];
    const job = (key: string, name: string, ms: number, fail = false) =>
      mutex.run(key, async () => {
        order.push(`${name}+`);
        await sleep(ms);
        order.push(`${name}-`);
        if (fail) throw new Error(name);
      });
    const all = Promise.allSettled([
      job('a', 'a1', 30, true),
      job('a', 'a2', 1),
      job('b', 'b1', 5),
    ]);
    await all;
    expect(order.indexOf('a1-')).toBeLessThan(order.indexOf('a2+'));
    expect(order.indexOf('b1-')).toBeLessThan(order.indexOf('a1-'));
  });
});

describe('the agent store', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('persists records and refuses a stale compare-and-set', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-agdb-'));
    dirs.push(dir);
    const file = join(dir, 'agent.sqlite');
    const db = await openAgentDb(file);
    const base: Omit<VmRecord, 'version' | 'updatedAt'> = {
      key: 'mvm-t-p-i',
      tenantId: 't',
      poolId: 'p',
      instanceId: 'i',
      spec: {
        role: 'worker',
        vcpus: 1,
        memMib: 128,
        dataDiskMib: 8,
        ip: '10.0.0.2',
        prefixLength: 24,
        mac: '52:54:00:00:00:02',
        tap: 'mvm-0123456789a',
        revision: 'dev',
        network: false,
        secretsVersion: 1,
      },
      secrets: { K: 'v' },
      config: null,
      status: 'created',
      intent: null,
      handle: null,
      snapshot: null,
      failureReason: null,
      createdAt: new Date(0).toISOString(),
    };
    const created = await db.vms.insert(base);
    const ready = await db.vms.update(created, { status: 'ready' }, new Date(1));
    await expect(db.vms.update(created, { status: 'failed' }, new Date(2))).rejects.toThrow(
      /changed underneath/,
    );
    await db.close();
    const reopened = await openAgentDb(file);
    expect(await reopened.vms.get(base.key)).toEqual(ready);
    await reopened.close();
  });

  it('keeps its files 0600 (with -wal and -shm) and tightens an older looser one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-agdb-'));
    dirs.push(dir);
    const file = join(dir, 'state', 'agent.sqlite');
    const modes = async () =>
      Promise.all(
        [join(dir, 'state'), file, `${file}-wal`, `${file}-shm`].map(async (path) =>
          ((await stat(path)).mode & 0o777).toString(8),
        ),
      );
    const db = await openAgentDb(file);
    expect(await modes()).toEqual(['700', '600', '600', '600']);
    await db.close();
    // An older install: world-readable files, held open by another process meanwhile.
    await chmod(file, 0o644);
    const holder = new Database(file);
    holder.pragma('journal_mode = WAL');
    const warned: string[] = [];
    try {
      for (const suffix of ['-wal', '-shm']) await chmod(`${file}${suffix}`, 0o644);
      const again = await openAgentDb(file, {
        warn: (obj) => warned.push(JSON.stringify(obj)),
      });
      expect(await modes()).toEqual(['700', '600', '600', '600']);
      await again.close();
    } finally {
      holder.close();
    }
    expect(warned).toHaveLength(3);
    expect(warned.join()).toContain('"from":"0644","to":"0600"');
  });
});
