import { describe, expect, it } from 'vitest';
import { inodesInUse } from '../../../src/drivers/image/reproducible-ext4.ts';

describe('pinning inode times', () => {
  it('reads the inodes in use from dumpe2fs: the root and every one not listed free', () => {
    const dump = [
      'Inode count:              64',
      'Group 0: (Blocks 0-8191)',
      '  Free inodes: 15-32',
      'Group 1: (Blocks 8192-16383)',
      '  Free inodes: 33-40, 42-64',
    ].join('\n');
    expect(inodesInUse(dump)).toEqual([2, 11, 12, 13, 14, 41]);
  });
});
