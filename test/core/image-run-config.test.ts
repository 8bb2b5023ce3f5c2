import { describe, expect, it } from 'vitest';
import { ociImageConfigSchema } from '../../src/contract/oci-image.ts';
import type { OciImageConfig } from '../../src/contract/oci-image.ts';
import {
  DEFAULT_PATH,
  platformManifest,
  runConfigOf,
  runSpecOf,
} from '../../src/core/image-run-config.ts';
import { ext4Sizing, grown, uuidFromHex } from '../../src/core/rootfs-size.ts';

const image = (config: NonNullable<OciImageConfig['config']>): OciImageConfig =>
  ociImageConfigSchema.parse({ config, rootfs: { type: 'layers', diff_ids: [] } });
const digest = (c: string) => `sha256:${c.repeat(64)}`;

describe('an image config to its run config', () => {
  it('argv is Entrypoint then Cmd; Env keeps its order, a later name wins', () => {
    const run = runConfigOf(
      image({
        Entrypoint: ['/bin/app'],
        Cmd: ['--port', '80'],
        Env: ['A=1', 'PATH=/x', 'B=2', 'A=3', 'junk'],
        WorkingDir: '/srv',
        User: 'app:staff',
        ExposedPorts: { '80/tcp': {}, '53/udp': {}, '8080': {} },
        StopSignal: 'SIGQUIT',
      }),
    );
    expect(run).toEqual({
      argv: ['/bin/app', '--port', '80'],
      env: ['A=3', 'PATH=/x', 'B=2'],
      workingDir: '/srv',
      user: 'app:staff',
      exposedPorts: [
        { port: 53, protocol: 'udp' },
        { port: 80, protocol: 'tcp' },
        { port: 8080, protocol: 'tcp' },
      ],
      stopSignal: 'SIGQUIT',
    });
    expect(runSpecOf(run)).toEqual({
      version: 1,
      argv: ['/bin/app', '--port', '80'],
      env: { A: '3', PATH: '/x', B: '2' },
      cwd: '/srv',
      user: 'app:staff',
      ports: [80, 8080],
    });
  });

  it('an image that says nothing runs nothing, as root, in /, with the usual PATH', () => {
    expect(
      runConfigOf(ociImageConfigSchema.parse({ rootfs: { type: 'layers', diff_ids: [] } })),
    ).toEqual({
      argv: [],
      env: [`PATH=${DEFAULT_PATH}`],
      workingDir: '/',
      user: '',
      exposedPorts: [],
    });
  });

  it('refuses a relative WorkingDir and a port that is not one', () => {
    expect(() => runConfigOf(image({ WorkingDir: 'srv' }))).toThrow(/not an absolute path/);
    expect(() => runConfigOf(image({ ExposedPorts: { '70000/tcp': {} } }))).toThrow(/70000\/tcp/);
    expect(() => runConfigOf(image({ ExposedPorts: { http: {} } }))).toThrow(/PORT/);
  });

  it("picks an index's linux/amd64 manifest, or says what it offers", () => {
    const index = {
      schemaVersion: 2 as const,
      manifests: [
        { digest: digest('a'), size: 1, platform: { os: 'linux', architecture: 'arm64' } },
        { digest: digest('b'), size: 2, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    };
    expect(platformManifest(index).digest).toBe(digest('b'));
    expect(() => platformManifest({ ...index, manifests: index.manifests.slice(0, 1) })).toThrow(
      /no linux\/amd64 manifest \(it has: linux\/arm64\)/,
    );
  });
});

describe('rootfs sizing', () => {
  it('counts whole blocks, every inode and a margin; grows by half', () => {
    const small = ext4Sizing({
      inodes: 10_001,
      dataBytes: 10_000 * 4096,
      direntBytes: 10_000 * 16,
    });
    expect(small.inodes).toBeGreaterThanOrEqual(11_000);
    expect(small.sizeBytes).toBeGreaterThan(10_000 * 4096 + 11_000 * 256);
    expect(small.sizeBytes % (1024 * 1024)).toBe(0);
    const next = grown(small);
    expect(next.sizeBytes).toBeGreaterThanOrEqual(small.sizeBytes * 1.5);
    expect(next.inodes).toBe(Math.ceil(small.inodes * 1.5));
  });

  it('derives a stable RFC 4122 UUID from a digest', () => {
    const uuid = uuidFromHex('0123456789abcdef'.repeat(4));
    expect(uuid).toBe(uuidFromHex('0123456789abcdef'.repeat(4)));
    expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
