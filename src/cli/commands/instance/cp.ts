import { arg, defineCommand } from '../../command.ts';
import { copyPlan, getFile, parseCopyEnd, putFile } from '../../session/copy.ts';
import { word } from './session-values.ts';

export const instanceCp = defineCommand({
  path: ['instance', 'cp'],
  description:
    'Copy one file into or out of an instance, keeping its mode: <tenant/pool/instance>:/path on one side, a local path on the other. A warm or sleeping instance is woken first',
  args: {
    source: arg(word('<src>'), 'a local file, or <tenant/pool/instance>:/path'),
    destination: arg(word('<dst>'), 'a local path, or <tenant/pool/instance>:/path'),
  },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const plan = copyPlan(parseCopyEnd(args.source), parseCopyEnd(args.destination));
    const result = plan.put
      ? await putFile(ctx, plan.put.from, plan.put.to)
      : await getFile(ctx, plan.get.from, plan.get.to);
    const where =
      result.direction === 'into-instance'
        ? `${result.localPath} → ${result.instance}:${result.remotePath}`
        : `${result.instance}:${result.remotePath} → ${result.localPath}`;
    const text = `copied ${result.bytes} bytes (mode ${result.mode}): ${where}`;
    return { data: result, human: [{ kind: 'text', text }] };
  },
});
