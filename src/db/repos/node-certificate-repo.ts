import type { Kysely, Selectable } from 'kysely';
import { AlreadyExistsError } from '../../core/errors.ts';
import type { NodeCertificateRecord, NodeCertificateRepo } from '../../ports/store.ts';
import { translateConstraintError } from '../constraint-error.ts';
import type { Database, NodeCertificatesTable } from '../schema.ts';

type NodeCertificateRow = Selectable<NodeCertificatesTable>;

export class KyselyNodeCertificateRepo implements NodeCertificateRepo {
  constructor(
    private readonly db: Kysely<Database>,
    /** Told before each revocation (db/credential-cache.ts). */
    private readonly onRevoke?: () => void,
  ) {}

  async insert(cert: NodeCertificateRecord): Promise<void> {
    try {
      await this.db.insertInto('node_certificates').values(toRow(cert)).execute();
    } catch (error) {
      throw translateConstraintError(error, {
        unique: [
          {
            constraint: 'node_certificates_pkey',
            columns: ['serial'],
            error: () => new AlreadyExistsError('node certificate', cert.serial),
          },
        ],
      });
    }
  }

  async get(serial: string): Promise<NodeCertificateRecord | undefined> {
    const row = await this.db
      .selectFrom('node_certificates')
      .selectAll()
      .where('serial', '=', serial)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async list(nodeId: string): Promise<NodeCertificateRecord[]> {
    const rows = await this.db
      .selectFrom('node_certificates')
      .selectAll()
      .where('node_id', '=', nodeId)
      .orderBy('issued_at')
      .orderBy('serial')
      .execute();
    return rows.map(fromRow);
  }

  /** Idempotent: an already revoked certificate keeps its first revocation time. */
  async revokeNode(nodeId: string, at: string): Promise<number> {
    this.onRevoke?.();
    const result = await this.db
      .updateTable('node_certificates')
      .set({ revoked_at: at })
      .where('node_id', '=', nodeId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }
}

function toRow(c: NodeCertificateRecord): NodeCertificateRow {
  return {
    serial: c.serial,
    node_id: c.nodeId,
    fingerprint: c.fingerprint,
    not_after: c.notAfter,
    issued_at: c.issuedAt,
    revoked_at: c.revokedAt,
  };
}

function fromRow(r: NodeCertificateRow): NodeCertificateRecord {
  return {
    serial: r.serial,
    nodeId: r.node_id,
    fingerprint: r.fingerprint,
    notAfter: r.not_after,
    issuedAt: r.issued_at,
    revokedAt: r.revoked_at,
  };
}
