import type { ArtifactStore } from '../../ports/artifact-store.ts';
import type { ImageBuilders } from '../../ports/image-builder.ts';

/**
 * What the coordinator builds and serves revisions with: its content-addressed artifact store
 * (`<data dir>/artifacts`), each tenant's uploads of packed sources, the builders per kind of
 * source, and where builds work. Without them the build and artifact routes answer 503.
 */
export interface ImageDeps {
  artifacts: ArtifactStore;
  uploads(tenantId: string): ArtifactStore;
  /** The tenants that have an uploads store on disk (destroyed ones too). */
  uploadTenants(): Promise<string[]>;
  builders: ImageBuilders;
  /** One directory per running build (its scratch files and its log as it grows). */
  workDir: string;
}
