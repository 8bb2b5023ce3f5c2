import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdir, readFile, readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ValidationError } from '../../core/errors.ts';
import { parseCertPem } from '../../drivers/pki/cert-info.ts';
import { writeFileAtomic } from '../../drivers/pki/key-files.ts';

/** A joined host's credentials: who it is, where its coordinator is, and its mTLS material. */
export interface NodeIdentity {
  nodeId: string;
  coordinatorUrl: string;
  caPem: string;
  certificatePem: string;
  keyPem: string;
  /** Where other nodes reach this one (VXLAN underlay), as told to the coordinator at join. */
  underlayIp?: string;
}

const metaSchema = z.object({
  nodeId: z.string(),
  coordinatorUrl: z.string(),
  underlayIp: z.string().optional(),
});

/**
 * Files under `<dataDir>/node/`: `node.json` and `ca.crt`, and the key and certificate in
 * `current/` (a symlink to `identity-<serial>/`). Renewal writes a new directory and swaps
 * the symlink with one rename, so a reader never sees a key from one pair and a certificate
 * from the other, even across a crash.
 */
export class NodeIdentityStore {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'node');
  }

  async load(): Promise<NodeIdentity | undefined> {
    let metaText: string;
    try {
      metaText = await readFile(join(this.dir, 'node.json'), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const meta = metaSchema.parse(JSON.parse(metaText));
    return {
      ...meta,
      caPem: await readFile(join(this.dir, 'ca.crt'), 'utf8'),
      certificatePem: await readFile(join(this.dir, 'current', 'node.crt'), 'utf8'),
      keyPem: await readFile(join(this.dir, 'current', 'node.key'), 'utf8'),
    };
  }

  async save(identity: NodeIdentity): Promise<void> {
    checkPair(identity);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const serial = parseCertPem(identity.certificatePem).serial;
    const target = `identity-${serial}`;
    await writeFileAtomic(join(this.dir, target, 'node.key'), identity.keyPem, true);
    await writeFileAtomic(join(this.dir, target, 'node.crt'), identity.certificatePem);
    await writeFileAtomic(join(this.dir, 'ca.crt'), identity.caPem);
    const { nodeId, coordinatorUrl, underlayIp } = identity;
    const meta = { nodeId, coordinatorUrl, ...(underlayIp !== undefined ? { underlayIp } : {}) };
    await writeFileAtomic(join(this.dir, 'node.json'), `${JSON.stringify(meta, null, 2)}\n`);
    const current = join(this.dir, 'current');
    const previous = await readlink(current).catch(() => undefined);
    const link = `${current}.${process.pid}.tmp`;
    await rm(link, { force: true });
    await symlink(target, link);
    await rename(link, current);
    await this.prune([target, previous]);
  }

  /** Keeps the current identity and the one before it (for a look after a bad renewal). */
  private async prune(keep: ReadonlyArray<string | undefined>): Promise<void> {
    for (const name of await readdir(this.dir)) {
      if (!name.startsWith('identity-') || keep.includes(name)) continue;
      await rm(join(this.dir, name), { recursive: true, force: true });
    }
  }
}

/** A certificate saved with the wrong key would lock the node out at its next connection. */
function checkPair(identity: NodeIdentity): void {
  const cert = new X509Certificate(identity.certificatePem);
  if (!cert.checkPrivateKey(createPrivateKey(identity.keyPem))) {
    throw new ValidationError(
      `the certificate for node '${identity.nodeId}' does not match its key`,
    );
  }
}
