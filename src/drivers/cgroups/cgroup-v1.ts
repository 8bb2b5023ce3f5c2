import { join } from 'node:path';
import { isCgroupKey } from '../cgroup-v2/cgroup-inputs.ts';
import {
  listKeys,
  placeOnce,
  readOptional,
  readPids,
  removeCgroupDir,
  makeCgroupDir,
  writeCgroupFile,
} from '../cgroup-v2/cgroup-files.ts';
import type { RemoveWait } from '../cgroup-v2/cgroup-files.ts';
import { SLICE } from '../cgroup-v2/cgroup-v2.ts';

/**
 * One legacy (v1) hierarchy, e.g. /sys/fs/cgroup/memory: instance cgroups live at
 * `<mount>/mvm.slice/<key>`, as on cgroup2. Keys are checked by the caller.
 */
export class CgroupV1Hierarchy {
  constructor(
    readonly mount: string,
    readonly controllers: readonly string[],
    private readonly wait: RemoveWait,
  ) {}

  dir(key: string): string {
    return join(this.mount, SLICE, key);
  }

  /** Creates the instance's cgroup (idempotent) and writes the files in order. */
  async create(key: string, files: readonly { file: string; value: string }[]): Promise<string> {
    const dir = this.dir(key);
    await makeCgroupDir(dir);
    for (const { file, value } of files) await writeCgroupFile(dir, file, value);
    return dir;
  }

  place(key: string, pid: number): Promise<void> {
    return placeOnce(this.dir(key), pid);
  }

  pids(key: string): Promise<number[]> {
    return readPids(this.dir(key));
  }

  /** A file of the instance's cgroup, '' when it is gone. */
  read(key: string, file: string): Promise<string> {
    return readOptional(join(this.dir(key), file));
  }

  remove(key: string): Promise<void> {
    return removeCgroupDir(this.dir(key), this.wait);
  }

  list(): Promise<string[]> {
    return listKeys(join(this.mount, SLICE), isCgroupKey);
  }
}
