// A KV counter: reads the tenant's "counter", adds one, writes it back, and says the new count.
// Run twice (after any number of crashes in between) and the counter has moved by two: each
// kv_set commits with its journal entry, and replay answers kv_get from the journal.
import { field, input, kvGet, kvSet, log, output } from './mvm';

export function run(): i32 {
  const key = field(input(), 'key');
  const name = key.length > 0 ? key : 'counter';
  const current = kvGet(name);
  let next = 1;
  if (current !== null) next = I32.parseInt(current) + 1;
  kvSet(name, next.toString());
  log('counter ' + name + ' is now ' + next.toString());
  output('{"count":' + next.toString() + '}');
  return 0;
}
