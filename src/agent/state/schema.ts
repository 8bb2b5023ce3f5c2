/** The agent's local SQLite: one row per VM this host owns. JSON columns are text. */
export interface LocalVmsTable {
  key: string;
  tenant_id: string;
  pool_id: string;
  instance_id: string;
  /** StoredSpec as JSON. */
  spec: string;
  /** Name -> value JSON; never leaves the agent except into the secrets drive. */
  secrets: string;
  /** {version, files} JSON or null. */
  config: string | null;
  status: string;
  /** The action under way (written before acting, cleared after): recovery reads it. */
  intent: string | null;
  /** VmHandle JSON; null when no VMM process exists. */
  handle: string | null;
  /** SnapshotRef JSON of the durable sleep snapshot; null otherwise. */
  snapshot: string | null;
  failure_reason: string | null;
  created_at: string;
  updated_at: string;
  version: number;
}

/** Which identity slot each instance holds; released when the instance is destroyed. */
export interface VmIdentitiesTable {
  key: string;
  slot: number;
}

export interface AgentDatabase {
  local_vms: LocalVmsTable;
  vm_identities: VmIdentitiesTable;
}
