import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.ts';
import { planOpenclaw } from '../../src/core/openclaw-plan.ts';
import { defaultQuotas } from '../../src/core/quotas.ts';

describe('planOpenclaw', () => {
  it('is seed 002 §3 by default with 2048 MiB gateways (OpenClaw idles near 1 GiB), within the default quotas', () => {
    const plan = planOpenclaw();
    expect(plan.raised).toEqual({});
    expect(plan.quotas).toEqual(defaultQuotas);
    expect(plan.pools).toEqual([
      {
        id: 'gateways',
        role: 'gateway',
        critical: true,
        vcpus: 2,
        memMib: 2048,
        dataDiskMib: 1024,
        counts: { running: 1, warm: 0, sleeping: 0 },
        publish: [{ hostPort: 18789, guestPort: 18789 }],
        hostPortTries: 100,
      },
      {
        id: 'workers',
        role: 'worker',
        critical: false,
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
    expect(() => planOpenclaw({ flake: '.', image: 'x' })).toThrow(/one image source/);
    expect(() =>
      planOpenclaw({ image: 'x', profileImages: { gateway: 'oci:/g:g', worker: 'oci:/w:w' } }),
    ).toThrow(/one image source/);
  });

  it('the OpenClaw profiles give each pool its own image; --mem sets both, --gateway-mem the gateways', () => {
    const plan = planOpenclaw({
      profileImages: { gateway: 'oci:/c/gw:openclaw-gateway', worker: 'oci:/c/wk:openclaw-worker' },
      memMib: 512,
    });
    expect(plan.pools.map((p) => [p.id, p.image, p.memMib])).toEqual([
      ['gateways', 'oci:/c/gw:openclaw-gateway', 512],
      ['workers', 'oci:/c/wk:openclaw-worker', 512],
    ]);
    const sized = planOpenclaw({ memMib: 512, gatewayMemMib: 4096 }).pools;
    expect(sized.map((p) => p.memMib)).toEqual([4096, 512]);
  });
});
