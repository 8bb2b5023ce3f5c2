/**
 * Reading an ext4 image the way a test compares it with an expected tree: debugfs only (no
 * mount, no loop device). `ls -p` gives inode, mode, owner and size of every entry, so hard
 * links show as one inode under two names.
 */
import { testRunner } from './qemu-guest.ts';

export interface Ext4Node {
  ino: number;
  /** Octal mode with the file type bits, as debugfs prints it (e.g. 100644, 040755). */
  mode: string;
  uid: number;
  gid: number;
  size: number;
}

async function debugfs(image: string, command: string): Promise<string> {
  return (await testRunner.run('debugfs', ['-R', command, image])).stdout;
}

/** Every path below `/` (without lost+found), keyed `etc/b`, `app`, … */
export async function ext4Tree(image: string): Promise<Map<string, Ext4Node>> {
  const tree = new Map<string, Ext4Node>();
  const walk = async (dir: string): Promise<void> => {
    const out = await debugfs(image, `ls -p ${dir === '' ? '/' : `/${dir}`}`);
    for (const line of out.split('\n')) {
      const fields = line.split('/');
      if (fields.length < 7) continue;
      const [, ino, mode, uid, gid, name, size] = fields;
      if (name === '.' || name === '..' || name === '' || name === undefined) continue;
      if (dir === '' && name === 'lost+found') continue;
      const path = dir === '' ? name : `${dir}/${name}`;
      tree.set(path, {
        ino: Number(ino),
        mode: mode ?? '',
        uid: Number(uid),
        gid: Number(gid),
        size: Number(size || 0),
      });
      if (mode?.startsWith('04')) await walk(path);
    }
  };
  await walk('');
  return tree;
}

export async function ext4Cat(image: string, path: string): Promise<string> {
  return debugfs(image, `cat /${path}`);
}

/** `stat` of one entry: symlink targets, device numbers, extended attributes. */
export async function ext4Stat(image: string, path: string): Promise<string> {
  return debugfs(image, `stat /${path}`);
}

export async function ext4Xattrs(image: string, path: string): Promise<string> {
  return debugfs(image, `ea_list /${path}`);
}
