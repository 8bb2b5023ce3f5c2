import { describe, expect, it } from 'vitest';
import {
  fieldsOf,
  flakeRefProblems,
  isLocalFlake,
  isLocalImage,
  nixAttribute,
  parseImageRef,
  requestedSource,
  sourceOf,
  type PoolSource,
} from '../../src/core/pool-source.ts';

describe('image refs (skopeo transport syntax)', () => {
  it.each([
    ['oci:/images/app', { transport: 'oci', path: '/images/app' }],
    ['oci:/images/app:v1.2', { transport: 'oci', path: '/images/app', reference: 'v1.2' }],
    ['oci-archive:/tmp/app.tar', { transport: 'oci-archive', path: '/tmp/app.tar' }],
    [
      'oci-archive:/tmp/app.tar:latest',
      { transport: 'oci-archive', path: '/tmp/app.tar', reference: 'latest' },
    ],
    ['docker-archive:/tmp/d.tar', { transport: 'docker-archive', path: '/tmp/d.tar' }],
    [
      'docker-archive:/tmp/d.tar:busybox:1.36',
      { transport: 'docker-archive', path: '/tmp/d.tar', reference: 'busybox:1.36' },
    ],
    [
      'docker-archive:/tmp/d.tar:@1',
      { transport: 'docker-archive', path: '/tmp/d.tar', reference: '@1' },
    ],
    [
      'docker://registry.example:5000/team/app:1',
      { transport: 'docker', path: 'registry.example:5000/team/app:1' },
    ],
  ])('parses %s', (ref, parsed) => {
    expect(parseImageRef(ref)).toEqual(parsed);
  });

  it.each([
    'registry/app:1',
    'dir:/images/app',
    'containers-storage:app',
    'oci:',
    'oci:/a b',
    'oci:/dir:bad tag',
    'oci:/dir:-x',
    'docker://UPPER/app',
    'docker://',
    'docker-archive:/tmp/d.tar:Bad Ref',
  ])('refuses %s', (ref) => {
    expect(parseImageRef(ref)).toBeUndefined();
  });

  it('tells local transports (packed by the CLI) from a registry', () => {
    expect(isLocalImage(parseImageRef('oci:/x') ?? fail())).toBe(true);
    expect(isLocalImage(parseImageRef('docker-archive:/x.tar') ?? fail())).toBe(true);
    expect(isLocalImage(parseImageRef('docker://r.example/x') ?? fail())).toBe(false);
  });
});

describe('flake refs', () => {
  it.each([
    '.',
    './flake',
    '../up',
    '/abs/flake',
    'path:/abs',
    'github:org/repo',
    'git+https://h/r.git?ref=main',
    'https://h/f.tar.gz',
  ])('accepts %s', (ref) => expect(flakeRefProblems(ref)).toEqual([]));

  it.each([
    ['', /must not be empty/],
    ['github:org/repo#tenant-x', /names an attribute/],
    ['org/repo', /is not a flake ref/],
    ['github:org/ repo', /whitespace/],
  ])('refuses %j', (ref, problem) => {
    const problems = flakeRefProblems(ref);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(problem);
  });

  it('knows which refs live on the caller machine', () => {
    expect(['.', '/abs', 'path:/x', 'git+file:/x'].map(isLocalFlake)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(['github:o/r', 'https://h/f.tar.gz'].map(isLocalFlake)).toEqual([false, false]);
  });
});

describe('sources', () => {
  it('stores and reads back each kind', () => {
    const sources: PoolSource[] = [
      { kind: 'dev' },
      { kind: 'oci', ref: 'oci:/i:v1' },
      { kind: 'nix', flake: 'github:o/r', profile: 'minimal' },
    ];
    for (const source of sources) expect(sourceOf(fieldsOf(source))).toEqual(source);
  });

  it('takes an image, or a flake with a profile, or neither', () => {
    expect(requestedSource({})).toEqual({ source: { kind: 'dev' }, problems: [] });
    expect(requestedSource({ image: 'oci:/i' }).source).toEqual({ kind: 'oci', ref: 'oci:/i' });
    expect(requestedSource({ flake: '.', profile: 'p' }).source).toEqual({
      kind: 'nix',
      flake: '.',
      profile: 'p',
    });
    expect(requestedSource({ flake: '.' }).problems).toEqual([
      'a flake source needs both --flake and --profile',
    ]);
    expect(requestedSource({ image: 'oci:/i', profile: 'p' }).problems[0]).toMatch(/not both/);
  });

  it('picks the attribute of seed 003', () => {
    expect(nixAttribute('gateway', 'minimal', true)).toBe('tenant-gateway-minimal');
    expect(nixAttribute('worker', 'python', false)).toBe('tenant-python');
  });
});

function fail(): never {
  throw new Error('expected a parsed ref');
}
