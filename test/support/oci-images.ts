/**
 * The OCI images the image tests build offline (see oci-fixture.ts): one that holds every
 * case the anchors' whiteout bugs broke, a small web server on busybox, and a distroless one
 * (a single static binary, no shell).
 */
import { readFile } from 'node:fs/promises';
import type { FixtureEntry, FixtureImage } from './oci-fixture.ts';

/** Layer 2 deletes, layer 3 re-adds: whiteouts applied after all layers would lose it. */
export const TRICKY_FILES = 10_000;

export function trickyImage(): FixtureImage {
  const many: FixtureEntry[] = Array.from({ length: TRICKY_FILES }, (_, i) => ({
    type: 'file',
    path: `many/f${String(i).padStart(5, '0')}`,
    data: `file ${i}\n`.padEnd(10, '.'),
  }));
  return {
    tag: 'v1',
    layers: [
      {
        compression: 'gzip',
        entries: [
          { type: 'dir', path: 'etc' },
          { type: 'file', path: 'etc/a', data: 'a\n' },
          { type: 'file', path: 'etc/b', data: 'b\n' },
          { type: 'dir', path: 'etc/conf.d' },
          { type: 'file', path: 'etc/conf.d/old1', data: 'old1\n' },
          { type: 'file', path: 'etc/conf.d/old2', data: 'old2\n' },
          { type: 'file', path: 'etc/readd', data: 'first\n' },
          { type: 'dir', path: 'app' },
          { type: 'file', path: 'app/hard1', data: 'hard\n' },
          { type: 'link', path: 'app/hard2', target: 'app/hard1' },
          { type: 'symlink', path: 'app/link', target: '../etc/b' },
          { type: 'file', path: 'app/empty', data: '' },
          { type: 'file', path: 'app/xattr', data: 'x', xattrs: { 'user.mvm': 'kept' } },
          { type: 'file', path: 'app/owned', data: 'o', uid: 1000, gid: 1001, mode: 0o600 },
          { type: 'file', path: 'app/suid', data: 's', mode: 0o4755 },
          { type: 'dir', path: 'dev' },
          { type: 'char-device', path: 'dev/mvmnull', major: 1, minor: 3 },
          { type: 'dir', path: 'var' },
          { type: 'dir', path: 'var/lib' },
          { type: 'file', path: 'var/lib/gone', data: 'gone\n' },
          { type: 'dir', path: 'opt' },
          { type: 'dir', path: 'opt/tool' },
          { type: 'file', path: 'opt/tool/x', data: 'x' },
          { type: 'file', path: 'opt/tool/y', data: 'y' },
        ],
      },
      {
        compression: 'none',
        entries: [
          { type: 'dir', path: 'etc/conf.d' },
          // Before and after the marker: an opaque directory hides lower layers only.
          { type: 'file', path: 'etc/conf.d/new', data: 'new\n' },
          { type: 'opaque', path: 'etc/conf.d' },
          { type: 'file', path: 'etc/conf.d/after', data: 'after\n' },
          { type: 'whiteout', path: 'etc/readd' },
          { type: 'dir', path: 'many' },
          ...many,
        ],
      },
      {
        compression: 'gzip',
        entries: [
          { type: 'whiteout', path: 'etc/a' },
          { type: 'file', path: 'etc/readd', data: 'second\n' },
          // A whiteout stored as a hard link to another whiteout of the layer (smolvm#401).
          { type: 'whiteout', path: 'var/lib/gone', asHardlinkTo: 'etc/.wh.a' },
          // A deleted directory re-created in the same layer keeps only the new entries.
          { type: 'whiteout', path: 'opt/tool' },
          { type: 'dir', path: 'opt/tool' },
          { type: 'file', path: 'opt/tool/z', data: 'z' },
        ],
      },
    ],
    config: {
      Entrypoint: ['/bin/true'],
      Env: ['FOO=bar', 'PATH=/usr/bin:/bin'],
      WorkingDir: '/app',
    },
  };
}

const APPLETS = ['sh', 'cat', 'echo', 'env', 'httpd', 'id', 'ls', 'pwd', 'sleep', 'test', 'wget'];

/**
 * busybox serving /srv/www on port 8080 as user `app`, saying hello in its log first. Two
 * layers; the second deletes /etc/a and adds the app's files.
 */
export async function webImage(
  options: { greeting?: string; cmd?: string[] } = {},
): Promise<FixtureImage> {
  const busybox = await readFile('/bin/busybox');
  return {
    tag: 'web',
    layers: [
      {
        compression: 'gzip',
        entries: [
          { type: 'dir', path: 'bin' },
          { type: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
          ...APPLETS.map((a): FixtureEntry => ({
            type: 'symlink',
            path: `bin/${a}`,
            target: 'busybox',
          })),
          { type: 'dir', path: 'etc' },
          {
            type: 'file',
            path: 'etc/passwd',
            data: 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n',
          },
          { type: 'file', path: 'etc/group', data: 'root:x:0:\napp:x:1000:\n' },
          { type: 'file', path: 'etc/a', data: 'to be deleted\n' },
          { type: 'file', path: 'etc/b', data: 'b\n' },
        ],
      },
      {
        compression: 'none',
        entries: [
          { type: 'whiteout', path: 'etc/a' },
          { type: 'dir', path: 'srv' },
          { type: 'dir', path: 'srv/www' },
          { type: 'file', path: 'srv/www/index.html', data: 'served by the image\n' },
          { type: 'dir', path: 'app', uid: 1000, gid: 1000 },
          { type: 'file', path: 'app/message', data: 'from the image\n' },
        ],
      },
    ],
    config: {
      Cmd: options.cmd ?? [
        '/bin/sh',
        '-c',
        'echo "workload up: $GREETING from $(pwd) as $(id -u)"; exec httpd -f -vv -p 8080 -h /srv/www',
      ],
      Env: [`GREETING=${options.greeting ?? 'hello'}`, 'PATH=/bin'],
      WorkingDir: '/app',
      User: 'app',
      ExposedPorts: { '8080/tcp': {} },
    },
  };
}

/** One static binary and one file: no shell, no /etc, no mount points. */
export async function distrolessImage(): Promise<FixtureImage> {
  const busybox = await readFile('/bin/busybox');
  return {
    tag: 'distroless',
    layers: [
      {
        compression: 'gzip',
        entries: [
          // busybox picks its applet from argv[0]: named httpd, it is a web server.
          { type: 'file', path: 'httpd', data: busybox, mode: 0o755 },
          { type: 'file', path: 'index.html', data: 'distroless\n' },
        ],
      },
    ],
    config: {
      Entrypoint: ['/httpd', '-f', '-p', '8080', '-h', '/'],
      User: '65534',
      ExposedPorts: { '8080/tcp': {} },
    },
  };
}
