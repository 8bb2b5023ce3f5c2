import { lstat, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { LayerEntry } from './oci-writer.ts';

/**
 * What goes into an OpenClaw image, as sorted layer entries: trees copied from the build
 * host (node, node_modules, python's library), programs with every library `ldd` names (the
 * host's Debian glibc, libstdc++, …), and inline files. Modes are normalised (0755 for
 * directories and anything executable, else 0644) so the layer depends only on contents.
 */
export class ImageTree {
  private readonly entries = new Map<string, LayerEntry>();

  constructor(private readonly runner: ProcessRunner) {}

  private dirs(path: string): void {
    const parts = path.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!this.entries.has(dir)) this.entries.set(dir, { kind: 'dir', path: dir, mode: 0o755 });
    }
  }

  private put(entry: LayerEntry): void {
    this.dirs(entry.path);
    this.entries.set(entry.path, entry);
  }

  dir(path: string, mode = 0o755): void {
    this.put({ kind: 'dir', path: rel(path), mode });
  }

  data(path: string, data: string | Buffer, mode = 0o644): void {
    this.put({ kind: 'data', path: rel(path), mode, data: Buffer.from(data) });
  }

  symlink(path: string, target: string): void {
    this.put({ kind: 'symlink', path: rel(path), target });
  }

  /** A host file (its content, followed through symlinks) at `path` in the image. */
  async file(path: string, source: string): Promise<void> {
    const info = await stat(source);
    this.put({
      kind: 'file',
      path: rel(path),
      mode: info.mode & 0o111 ? 0o755 : 0o644,
      source,
      size: info.size,
    });
  }

  /** A host directory copied as it is, symlinks kept, to `path` in the image. */
  async tree(path: string, source: string, skip: (name: string) => boolean = () => false) {
    this.dir(path);
    for (const name of (await readdir(source)).sort()) {
      if (skip(name)) continue;
      const from = join(source, name);
      const to = posix.join(path, name);
      const info = await lstat(from);
      if (info.isSymbolicLink()) this.symlink(to, await readlink(from));
      else if (info.isDirectory()) await this.tree(to, from, skip);
      else if (info.isFile()) await this.file(to, from);
    }
  }

  /** A program at its host path, with the libraries and loader it links against. */
  async program(path: string): Promise<void> {
    await this.file(path, await realpath(path));
    await this.libraries(path);
  }

  /** Every library `ldd` resolves for `binary`, at the path ldd names. */
  async libraries(binary: string): Promise<void> {
    const out = await this.runner.run('ldd', [binary], { check: false });
    for (const lib of lddPaths(out.stdout)) {
      if (!this.entries.has(rel(lib))) await this.file(lib, await realpath(lib));
    }
  }

  /** ELF shared objects under a copied tree (python's lib-dynload) get their libraries. */
  async librariesUnder(dir: string, pattern: RegExp): Promise<void> {
    for (const name of (await readdir(dir)).sort()) {
      if (pattern.test(name)) await this.libraries(join(dir, name));
    }
  }

  sorted(): LayerEntry[] {
    return [...this.entries.values()].sort((a, b) =>
      a.path < b.path ? -1 : a.path > b.path ? 1 : 0,
    );
  }
}

const rel = (path: string): string => path.replace(/^\/+/, '');

/** Library paths in ldd's output: `name => /path (0x…)` and the loader's `/path (0x…)`. */
export function lddPaths(output: string): string[] {
  const paths: string[] = [];
  for (const line of output.split('\n')) {
    const arrow = /=>\s+(\/\S+)\s+\(/.exec(line);
    const loader = /^\s*(\/\S+)\s+\(/.exec(line);
    const path = arrow?.[1] ?? loader?.[1];
    if (path) paths.push(path);
  }
  return paths;
}
