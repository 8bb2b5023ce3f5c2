import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MvmError, ValidationError } from '../../core/errors.ts';
import type {
  CertificateAuthority,
  CertificateRequest,
  IssuedCertificate,
} from '../../ports/certificate-authority.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { parseCertPem } from './cert-info.ts';
import { newEcPrivateKeyPem, writeFileAtomic } from './key-files.ts';

const CA_VALIDITY_DAYS = 3650;
const CA_SUBJECT = '/CN=mvm coordinator CA';

/** openssl's GeneralizedTime form for `-startdate`/`-enddate`: YYYYMMDDHHMMSSZ. */
function opensslTime(at: Date): string {
  return `${at.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

/** A positive 128-bit serial whose first byte is never zero, so its hex form is stable. */
function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = 0x10 + ((bytes[0] ?? 0) % 0x70);
  return bytes.toString('hex').toUpperCase();
}

function caConfig(work: string, request: CertificateRequest): string {
  const usage = request.usage === 'client' ? 'clientAuth' : 'serverAuth';
  return [
    '[ ca ]',
    'default_ca = mvm',
    '[ mvm ]',
    `database = ${join(work, 'index.txt')}`,
    `new_certs_dir = ${work}`,
    `serial = ${join(work, 'serial')}`,
    'default_md = sha256',
    'policy = policy_any',
    'unique_subject = no',
    'copy_extensions = none',
    '[ policy_any ]',
    'commonName = supplied',
    '[ ext ]',
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature',
    `extendedKeyUsage = ${usage}`,
    `subjectAltName = ${request.altNames.join(',')}`,
    '',
  ].join('\n');
}

/**
 * The coordinator's CA on the openssl CLI: an EC P-256 key (0600) and a self-signed 10-year
 * certificate in `<dir>/ca.key` and `<dir>/ca.crt`. openssl's own CA database is a throwaway
 * per signing: the store records every serial we issue.
 */
export class OpensslCa implements CertificateAuthority {
  private constructor(
    private readonly dir: string,
    private readonly runner: ProcessRunner,
    readonly caCertificatePem: string,
  ) {}

  static async loadOrCreate(dir: string, runner: ProcessRunner): Promise<OpensslCa> {
    const certFile = join(dir, 'ca.crt');
    const existing = await readFile(certFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (existing !== undefined) return new OpensslCa(dir, runner, existing);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const keyFile = join(dir, 'ca.key');
    await writeFileAtomic(keyFile, newEcPrivateKeyPem(), true);
    const staged = `${certFile}.${process.pid}.tmp`;
    await runner.run('openssl', [
      'req',
      '-x509',
      '-new',
      '-key',
      keyFile,
      '-subj',
      CA_SUBJECT,
      '-days',
      String(CA_VALIDITY_DAYS),
      '-sha256',
      '-addext',
      'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      staged,
    ]);
    const pem = await readFile(staged, 'utf8');
    await writeFileAtomic(certFile, pem);
    await rm(staged, { force: true });
    return new OpensslCa(dir, runner, pem);
  }

  async sign(request: CertificateRequest): Promise<IssuedCertificate> {
    const work = await mkdtemp(join(this.dir, 'sign-'));
    try {
      const csrFile = join(work, 'request.csr');
      await writeFile(csrFile, request.csrPem, { mode: 0o600 });
      await this.verifyCsr(csrFile);
      const serial = newSerial();
      await writeFile(join(work, 'index.txt'), '');
      await writeFile(join(work, 'serial'), `${serial}\n`);
      await writeFile(join(work, 'openssl.cnf'), caConfig(work, request));
      const out = join(work, 'issued.crt');
      await this.runner.run('openssl', [
        'ca',
        '-batch',
        '-notext',
        '-config',
        join(work, 'openssl.cnf'),
        '-cert',
        join(this.dir, 'ca.crt'),
        '-keyfile',
        join(this.dir, 'ca.key'),
        '-in',
        csrFile,
        '-out',
        out,
        '-extensions',
        'ext',
        '-subj',
        `/CN=${request.commonName}`,
        '-startdate',
        opensslTime(request.notBefore),
        '-enddate',
        opensslTime(request.notAfter),
      ]);
      const certificatePem = await readFile(out, 'utf8');
      const info = parseCertPem(certificatePem);
      return {
        certificatePem,
        serial: info.serial,
        fingerprint: info.fingerprint,
        notBefore: info.notBefore.toISOString(),
        notAfter: info.notAfter.toISOString(),
      };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** A CSR must parse and carry a valid self-signature: proof that the caller holds the key. */
  private async verifyCsr(csrFile: string): Promise<void> {
    try {
      await this.runner.run('openssl', ['req', '-verify', '-noout', '-in', csrFile]);
    } catch (error) {
      if (!(error instanceof MvmError)) throw error;
      throw new ValidationError(
        'the certificate signing request is malformed or its signature does not verify; generate a new one',
        ['csrPem: not a valid PEM certificate signing request'],
      );
    }
  }
}
