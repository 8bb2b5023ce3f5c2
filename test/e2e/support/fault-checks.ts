/**
 * What a converged node must look like after an agent was killed mid-step and restarted:
 * every host resource of the instance matches its record, and nothing is left of any other.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalInstance } from '../../../src/contract/agent-api.ts';
import { runner } from '../../net/support/net-lab.ts';
import type { FleetLab } from './fleet-lab.ts';
import { vmmPids } from './fleet-probes.ts';
import type { NodeId } from './fleet-topology.ts';

/** Where this host keeps cgroup hierarchies: cgroup2 and the v1 controllers of a hybrid host. */
const CGROUP_ROOTS = ['unified', 'cpu', 'memory', 'pids', ''].map((d) =>
  join('/sys/fs/cgroup', d, 'mvm.slice'),
);

/** Every mvm cgroup named for the tenant, with the processes in it. */
async function tenantCgroups(tenant: string): Promise<Map<string, number[]>> {
  const found = new Map<string, number[]>();
  for (const root of CGROUP_ROOTS) {
    for (const name of await readdir(root).catch(() => [] as string[])) {
      if (!name.startsWith(`mvm-${tenant}-`)) continue;
      const procs = await readFile(join(root, name, 'cgroup.procs'), 'utf8').catch(() => '');
      const pids = procs.split('\n').filter(Boolean).map(Number);
      found.set(name, [...(found.get(name) ?? []), ...pids]);
    }
  }
  return found;
}

/** Tap devices in the node's namespace. */
async function tapsIn(ns: string): Promise<string[]> {
  const out = await runner.run('ip', ['-n', ns, '-o', '-d', 'link', 'show']);
  return out.stdout
    .split('\n')
    .filter((line) => / tun type tap /.test(line))
    .map((line) => (line.split(': ')[1] ?? '').split('@')[0] ?? '');
}

const holdsVmm = (status: string) => status === 'running' || status === 'warm';

/**
 * The node holds `expected` (or nothing) for the tenant, and only it: one VMM exactly when
 * it should run, no other VMM, tap, cgroup (or a cgroup with a process other than its VMM),
 * Firecracker jail, or snapshot than its record names.
 */
export async function assertClean(
  lab: FleetLab,
  node: NodeId,
  tenant: string,
  expected: { key: string; status: string } | undefined,
): Promise<LocalInstance | undefined> {
  const dir = lab.agentDir(node);
  const records = await lab.agent(node).client.list();
  const record = records.find((r) => r.key === expected?.key);
  const problems: string[] = [];
  if (records.length !== (expected ? 1 : 0) || (expected && record?.status !== expected.status)) {
    problems.push(`records ${records.map((r) => `${r.key}:${r.status}`).join(',') || '(none)'}`);
  }
  const vmms = await vmmPids(dir);
  const wantVmm = record && holdsVmm(record.status) && record.pid !== null ? [record.pid] : [];
  if (JSON.stringify(vmms) !== JSON.stringify(wantVmm)) {
    problems.push(`VMMs [${vmms.join(',')}], expected [${wantVmm.join(',')}]`);
  }
  const taps = await tapsIn(lab.topology.nodeNs[node]);
  const ownTap = record?.spec.tap;
  if (taps.some((t) => t !== ownTap)) problems.push(`taps [${taps.join(',')}]`);
  for (const [name, pids] of await tenantCgroups(tenant)) {
    if (name !== record?.key) problems.push(`cgroup ${name} without a record`);
    if (pids.some((p) => !wantVmm.includes(p))) problems.push(`cgroup ${name} holds [${pids}]`);
  }
  const jails = await readdir(join(dir, 'jail', 'firecracker')).catch(() => [] as string[]);
  if (jails.length > 0) problems.push(`Firecracker jails [${jails.join(',')}]`);
  const vmDirs = (await readdir(join(dir, 'vms')).catch(() => [] as string[])).filter((d) =>
    d.startsWith('mvm-'),
  );
  if (vmDirs.some((d) => d !== record?.key)) problems.push(`VM dirs [${vmDirs.join(',')}]`);
  if (record) {
    const snapshots = await readdir(join(dir, 'vms', record.key, 'snapshots')).catch(
      () => [] as string[],
    );
    const wantSnapshots = record.status === 'sleeping' ? 1 : 0;
    if (snapshots.length !== wantSnapshots) problems.push(`snapshots [${snapshots.join(',')}]`);
    if (record.status === 'sleeping' && !existsSync(join(record.snapshotDir ?? '', 'vm.state'))) {
      problems.push(`sleeping without its snapshot (${String(record.snapshotDir)})`);
    }
  }
  if (problems.length > 0) throw new Error(`${node} not clean: ${problems.join('; ')}`);
  return record;
}

/**
 * assertClean until it holds, for at most `timeoutMs`: the agent converges a step at a time
 * (a destroy deletes the record, then its tap goes with the next network sync), so a check in
 * between sees what is about to go; what is still there at the bound is a leak.
 */
export async function untilClean(
  lab: FleetLab,
  node: NodeId,
  tenant: string,
  expected: { key: string; status: string } | undefined,
  timeoutMs = 30_000,
): Promise<LocalInstance | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await assertClean(lab, node, tenant, expected);
    } catch (error) {
      if (Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** The data drive of a stopped instance, read and written from the host (debugfs). */
export const dataDrive = (lab: FleetLab, node: NodeId, key: string): string =>
  join(lab.agentDir(node), 'vms', key, 'drives', 'data.ext4');

/**
 * The guest's journal is replayed first (as its next mount would): a write past an unreplayed
 * journal would be undone by that replay.
 */
async function replayJournal(drive: string): Promise<void> {
  const check = await runner.run('e2fsck', ['-fy', drive], { check: false });
  // 0: clean, 1: errors corrected (the journal replayed).
  if (check.exitCode > 1) throw new Error(`e2fsck ${drive}: ${check.exitCode} ${check.stdout}`);
}

export async function writeMarker(drive: string, file: string, text: string): Promise<void> {
  await replayJournal(drive);
  const local = `${drive}.marker`;
  await runner.run('sh', ['-c', 'printf %s "$1" > "$2"', 'sh', text, local]);
  await runner.run('debugfs', ['-w', '-R', `write ${local} ${file}`, drive]);
  await runner.run('rm', ['-f', local]);
}

export async function readMarker(drive: string, file: string): Promise<string> {
  await replayJournal(drive);
  return (await runner.run('debugfs', ['-R', `cat ${file}`, drive])).stdout;
}
