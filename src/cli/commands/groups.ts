/** Descriptions of the nouns that group commands (`mvm tenant ...`). */
export const groupDescriptions: Readonly<Record<string, string>> = {
  tenant: 'Tenants: security, quota and network boundaries',
  'tenant token': 'API tokens scoped to one tenant',
  token: 'Every API token, admin and tenant (admin only)',
  pool: 'Pools: groups of identical microVMs with desired counts',
  'pool config': "A pool's config files, read-only in its guests at /etc/mvm-config",
  secrets:
    'Tenant and pool secrets: sealed on the coordinator, read-only in guests at /run/secrets/NAME',
  instance: 'Instances: individual microVMs',
  job: 'Jobs: WebAssembly modules run once by a worker pool, with leases, retries and a quota',
  node: 'Nodes: KVM hosts running the agent',
  add: 'Bring a new host into the fleet',
  new: 'Create a whole deployment in one go (then: mvm connect <name>)',
  coordinator: 'The coordinator server that holds the fleet intent',
  net: 'Tenant networks on this host: bridges, taps, VXLAN and nftables rules',
  agent: 'The host agent that runs microVMs on this node',
  'agent instance': 'Instances on this node, straight through the local agent (no coordinator)',
  image: 'Guest images: kernel + initramfs revisions in the local image cache',
};
