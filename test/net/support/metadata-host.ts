/**
 * Runs the real MetadataServer inside a test node namespace:
 *   metadata-host.ts <host> <port> <identities JSON array>
 * Prints "listening" when bound.
 */
import { MetadataServer } from '../../../src/agent/metadata-server.ts';
import type { InstanceIdentity } from '../../../src/agent/metadata-server.ts';

const [host = '', port = '0', json = '[]'] = process.argv.slice(2);
const identities = JSON.parse(json) as InstanceIdentity[];
const server = new MetadataServer({
  host,
  port: Number(port),
  lookup: (ip) => identities.find((i) => i.ip === ip),
});
await server.start();
console.log('listening');
