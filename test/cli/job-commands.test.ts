import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView } from '../../src/contract/jobs.ts';
import { okModule } from '../coordinator/jobs/job-module-fixture.ts';
import { wat } from '../support/wat.ts';
import { cliLines } from './support/cli-lines.ts';
import { startInProcessCoordinator } from './support/in-process-coordinator.ts';
import type { InProcessCoordinator } from './support/in-process-coordinator.ts';

/** `mvm job …` against a real coordinator app on SQLite. */
let coordinator: InProcessCoordinator;
const { ok, fails, json } = cliLines(() => coordinator);
let files: string;

beforeAll(async () => {
  coordinator = await startInProcessCoordinator();
  files = await mkdtemp(join(tmpdir(), 'mvm-cli-jobs-'));
  await writeFile(join(files, 'ok.wasm'), okModule);
  // Imports WASI: outside ABI v1.
  await writeFile(
    join(files, 'wasi.wasm'),
    wat(`(module
      (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (import "mvm" "memory" (memory 1 16))
      (func (export "run") (result i32) (i32.const 0)))`),
  );
  await writeFile(join(files, 'input.json'), '{"repo":"acme/app","sha":"abc"}');
  await ok('mvm tenant create acme');
  await ok('mvm pool create acme/ci --flake . --profile minimal --cpus 1 --mem 256');
});
afterAll(async () => {
  await coordinator.close();
  await rm(files, { recursive: true, force: true });
});

type Submitted = { job: JobView; created: boolean };

describe('job commands', () => {
  it('submits with every option, lists, shows, cancels, retries and logs', async () => {
    const wasm = join(files, 'ok.wasm');
    const line = `mvm job submit acme --wasm ${wasm} --input @${join(files, 'input.json')} --pool ci --priority 7 --max-attempts 4 --timeout 90 --key build-1 --json`;
    const first = await json<Submitted>(line);
    expect(first.created).toBe(true);
    expect(first.job).toMatchObject({
      tenant: 'acme',
      pool: 'ci',
      state: 'queued',
      input: '{"repo":"acme/app","sha":"abc"}',
      priority: 7,
      maxAttempts: 4,
      timeoutSecs: 90,
      key: 'build-1',
    });
    const again = await json<Submitted>(line);
    expect(again).toEqual({ job: first.job, created: false });
    // Without --pool: the tenant's only worker pool.
    const plain = await json<Submitted>(`mvm job submit acme --wasm ${wasm} --input 42 --json`);
    expect(plain.job).toMatchObject({ pool: 'ci', input: '42', priority: 0 });

    const listed = await json<JobView[]>('mvm job list acme --json');
    expect(listed.map((j) => j.id).sort()).toEqual([first.job.id, plain.job.id].sort());
    expect(await ok('mvm job list acme --state queued')).toContain(first.job.id);
    expect(await ok(`mvm job info acme/${first.job.id}`)).toMatch(/state:\s+queued/);

    expect(await ok(`mvm job cancel acme/${first.job.id}`)).toContain('cancelled');
    expect(await fails(`mvm job cancel acme/${first.job.id}`)).toMatch(/final/);
    const retried = await json<Submitted>(`mvm job retry acme/${first.job.id} --json`);
    expect(retried.job).toMatchObject({ state: 'queued', retryOf: first.job.id, key: null });
    const logs = await ok(`mvm job logs acme/${first.job.id}`);
    expect(logs).toContain('job.submit');
    expect(logs).toContain('job.cancel');
  });

  it('refuses bad input clearly and stores nothing', async () => {
    const before = await json<JobView[]>('mvm job list acme --json');
    const wasi = await fails(`mvm job submit acme --wasm ${join(files, 'wasi.wasm')} --pool ci`);
    expect(wasi).toMatch(/wasi_snapshot_preview1/);
    expect(
      await fails(`mvm job submit acme --wasm ${join(files, 'ok.wasm')} --input {nope`),
    ).toMatch(/--input is not JSON/);
    expect(await fails(`mvm job submit acme --wasm ${join(files, 'missing.wasm')}`)).toMatch(
      /cannot read module/,
    );
    expect(await fails(`mvm job submit acme --wasm ${join(files, 'ok.wasm')} --pool nope`)).toMatch(
      /pool 'acme\/nope' not found/,
    );
    expect(await fails('mvm job info acme/j-none')).toMatch(/not found/);
    expect(await fails('mvm job info acme')).toMatch(/<tenant>\/<job>/);
    expect(await json<JobView[]>('mvm job list acme --json')).toEqual(before);
  });
});
