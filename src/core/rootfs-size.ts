/**
 * How big a read-only ext4 must be to hold a tree (pure). Sizes come from the files'
 * apparent sizes rounded up to whole blocks, never from `du` (a compressed or sparse staging
 * tree under-reports), plus room for every inode, so trees of many small files fit the first
 * time; a too-small guess grows by half and is tried again.
 */
export const EXT4_BLOCK_BYTES = 4096;
export const EXT4_INODE_BYTES = 256;
const MIB = 1024 * 1024;
/** Superblock copies, group descriptors, bitmaps and the root's own blocks. */
const FIXED_OVERHEAD_BYTES = 4 * MIB;
/** Extent tree blocks, xattr blocks and directory index blocks the walk does not see. */
const METADATA_SLACK = 0.1;
/** Inodes mkfs reserves (1-10) plus lost+found and a margin. */
const RESERVED_INODES = 64;
export const GROW_FACTOR = 1.5;

export interface TreeMeasure {
  /** Distinct inodes (hard links counted once). */
  inodes: number;
  /** Regular files' and long symlinks' data, each rounded up to whole blocks. */
  dataBytes: number;
  /** Directory entries' bytes (8 + name length, 4-aligned), summed over all directories. */
  direntBytes: number;
}

export interface Ext4Sizing {
  sizeBytes: number;
  inodes: number;
}

export function ext4Sizing(tree: TreeMeasure): Ext4Sizing {
  const inodes = Math.ceil(tree.inodes * 1.1) + RESERVED_INODES;
  const dirBlocks = Math.ceil(tree.direntBytes / EXT4_BLOCK_BYTES) * EXT4_BLOCK_BYTES;
  const payload = (tree.dataBytes + dirBlocks) * (1 + METADATA_SLACK);
  const bytes = payload + inodes * EXT4_INODE_BYTES + FIXED_OVERHEAD_BYTES;
  return { sizeBytes: Math.ceil(bytes / MIB) * MIB, inodes };
}

/** The next try after mkfs ran out of blocks or inodes. */
export function grown(sizing: Ext4Sizing): Ext4Sizing {
  return {
    sizeBytes: Math.ceil((sizing.sizeBytes * GROW_FACTOR) / MIB) * MIB,
    inodes: Math.ceil(sizing.inodes * GROW_FACTOR),
  };
}

/** A UUID (RFC 4122 variant, version 4 layout) taken from 32+ hex digits of a digest. */
export function uuidFromHex(hex: string): string {
  const variant = ((parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
