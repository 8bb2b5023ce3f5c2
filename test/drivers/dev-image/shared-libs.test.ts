import { expect, it } from 'vitest';
import { parseLddOutput } from '../../../src/drivers/dev-image/shared-libs.ts';
import { NodeProcessRunner } from '../../../src/drivers/process/node-process-runner.ts';
import { sharedLibraries } from '../../../src/drivers/dev-image/shared-libs.ts';

it('reads library paths and the loader from ldd output, skipping the vDSO', () => {
  const output = [
    '\tlinux-vdso.so.1 (0x00007ffd)',
    '\tlibssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x00007f4e)',
    '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f4f)',
    '\t/lib64/ld-linux-x86-64.so.2 (0x00007f50)',
    '',
  ].join('\n');
  expect(parseLddOutput(output)).toEqual([
    '/lib/x86_64-linux-gnu/libc.so.6',
    '/lib/x86_64-linux-gnu/libssl.so.3',
    '/lib64/ld-linux-x86-64.so.2',
  ]);
});

it('refuses output naming a library the host lacks', () => {
  expect(() => parseLddOutput('\tlibgone.so.1 => not found\n')).toThrow(
    'a shared library is missing on this host: libgone.so.1 => not found',
  );
});

it("lists the host's socat libraries, libc and the loader among them", async () => {
  const libs = await sharedLibraries(new NodeProcessRunner(), '/usr/bin/socat');
  expect(libs.some((l) => l.endsWith('/libc.so.6'))).toBe(true);
  expect(libs.some((l) => l.includes('ld-linux'))).toBe(true);
});
