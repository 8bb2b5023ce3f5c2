import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.ts';
import { planOpenclaw } from '../../src/core/openclaw-plan.ts';
import { defaultQuotas } from '../../src/core/quotas.ts';

describe('planOpenclaw', () => {
  it('is seed 002 §3 by default, within the default quotas', () => {
    const plan = planOpenclaw();
    expect(plan.raised).toEqual({});
    expect(plan.quotas).toEqual(defaultQuotas);
    expect(plan.pools).toEqual([
      {
        id: 'gateways',
        role: 'gateway',
        vcpus: 2,
        memMib: 1024,
        dataDiskMib: 1024,
        counts: { running: 1, warm: 0, sleeping: 0 },
      },
      {
        id: 'workers',
        role: 'worker',
        vcpus: 2,
        memMib: 1024,
        dataDiskMib: 2048,
        counts: { running: 2, warm: 1, sleeping: 0 },
      },
    ]);
  });

  it('raises only the quotas a large deployment needs, as the coordinator counts them', () => {
    const plan = planOpenclaw({ cpus: 32, memMib: 32768, workers: 3, warmWorkers: 1 });
    // Running instances hold vCPUs (1 gateway + 3 workers); warm ones hold memory too.
    expect(plan.raised).toEqual({ maxVcpus: 128, maxMemMib: 5 * 32768 });
    expect(plan.quotas.maxRunning).toBe(defaultQuotas.maxRunning);
  });

  it('gives both pools one source: a flake (profile = role), an OCI image, or the dev image', () => {
    const flake = planOpenclaw({ flake: 'github:org/claw' }).pools;
    expect(flake.map((p) => [p.flake, p.profile, p.image])).toEqual([
      ['github:org/claw', 'gateway', undefined],
      ['github:org/claw', 'worker', undefined],
    ]);
    const image = planOpenclaw({ image: 'docker://registry.example/claw:1' }).pools;
    expect(image.map((p) => [p.image, p.flake])).toEqual([
      ['docker://registry.example/claw:1', undefined],
      ['docker://registry.example/claw:1', undefined],
    ]);
    expect(() => planOpenclaw({ image: 'registry.example/claw:1' })).toThrow(/transport syntax/);
  });

  it('refuses bad sizes and two image sources at once', () => {
    expect(() => planOpenclaw({ cpus: 0 })).toThrow(ValidationError);
    expect(() => planOpenclaw({ flake: '.', image: 'x' })).toThrow(/not both/);
  });
});
