/**
 * A minimal `newc` cpio writer. We write the archive ourselves rather than through cpio(1)
 * so that ownership, inode numbers, mtimes and order are fixed: the same inputs always
 * give the same bytes, hence the same image revision.
 */
export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Uint8Array; mode?: number }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'chardev'; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

/** Packs entries sorted by path (parents before children), all owned by root, mtime 0. */
export function packCpio(entries: readonly CpioEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const chunks: Buffer[] = [];
  sorted.forEach((entry, index) => chunks.push(...record(index + 1, entry)));
  chunks.push(...header(0, 'TRAILER!!!', 0, 0, Buffer.alloc(0)));
  const body = Buffer.concat(chunks);
  // The kernel does not require it, but cpio(1) pads archives to 512-byte blocks.
  return Buffer.concat([body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
}

function record(ino: number, entry: CpioEntry): Buffer[] {
  const name = entry.path.replace(/^\/+/, '');
  switch (entry.kind) {
    case 'dir':
      return header(ino, name, S_IFDIR | (entry.mode ?? 0o755), 2, Buffer.alloc(0));
    case 'file':
      return header(ino, name, S_IFREG | (entry.mode ?? 0o644), 1, Buffer.from(entry.data));
    case 'symlink':
      return header(ino, name, S_IFLNK | 0o777, 1, Buffer.from(entry.target, 'utf8'));
    case 'chardev':
      return header(ino, name, S_IFCHR | (entry.mode ?? 0o600), 1, Buffer.alloc(0), [
        entry.major,
        entry.minor,
      ]);
  }
}

function header(
  ino: number,
  name: string,
  mode: number,
  nlink: number,
  data: Buffer,
  [rdevMajor, rdevMinor] = [0, 0],
): Buffer[] {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const sizes = [data.length, 0, 0, rdevMajor, rdevMinor, nameBytes.length, 0];
  const fields = [ino, mode, 0, 0, nlink, 0, ...sizes];
  const head = Buffer.from(`070701${fields.map(hex8).join('')}`, 'ascii');
  return [head, nameBytes, pad4(head.length + nameBytes.length), data, pad4(data.length)];
}

function hex8(value: number): string {
  return value.toString(16).padStart(8, '0').toUpperCase();
}

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}
