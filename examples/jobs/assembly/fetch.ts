// An HTTP POST with an idempotency key: the input names the URL; if the worker dies after
// sending and before the answer is recorded, the next worker sends it again with the same
// Idempotency-Key (<job>:<seq>), and a peer that deduplicates by it acts once.
import { fetch, field, input, output } from './mvm';

export function run(): i32 {
  const url = field(input(), 'url');
  if (url.length == 0) return 1;
  const answer = fetch(url, 'POST', '{"hello":"mvm"}', true);
  output('{"status":' + field(answer, 'status') + '}');
  return 0;
}
