import type { NodeGcReport } from '../../../contract/agent-api.ts';
import { defineCommand, flag } from '../../command.ts';
import type { Block } from '../../render.ts';
import { kibText } from '../../views/report-views.ts';
import { localAgent } from '../agent/local-agent.ts';

const size = (bytes: number | undefined): string =>
  bytes === undefined ? '-' : kibText(Math.ceil(bytes / 1024));

function gcBlocks(report: NodeGcReport): Block[] {
  const verb = report.dryRun ? 'would remove' : 'removed';
  const summary = `${verb} ${report.items.length} item(s), ${size(report.bytes)}${report.failed.length > 0 ? `; ${report.failed.length} could not be removed` : ''}`;
  return [
    {
      kind: 'table',
      columns: ['KIND', 'NAME', 'SIZE', 'WHY'],
      rows: report.items.map((i) => [i.kind, i.name, size(i.bytes), i.reason]),
      empty:
        'nothing to collect: no orphan snapshots, unused artifacts, pool bases, dead taps or cgroups',
    },
    ...(report.failed.length === 0
      ? []
      : [
          {
            kind: 'table' as const,
            columns: ['KIND', 'NAME', 'ERROR'],
            rows: report.failed.map((f) => [f.kind, f.name, f.error]),
            empty: '',
          },
        ]),
    { kind: 'text', text: [summary, ...report.notes.map((n) => `note: ${n}`)].join('\n') },
    ...(report.dryRun && report.items.length > 0
      ? [{ kind: 'text' as const, text: "run 'mvm node gc' without --dry-run to remove them" }]
      : []),
  ];
}

export const nodeGc = defineCommand({
  path: ['node', 'gc'],
  description:
    "Remove this host's garbage through its agent (under the agent's locks): snapshots no instance wakes from, unused image-cache entries, dead taps, orphan VMMs, cgroups and instance dirs",
  args: {},
  options: { dryRun: flag('only list what would be removed') },
  output: 'data',
  async handler(ctx, _args, opts) {
    const report = await localAgent(ctx).gc({ dryRun: opts.dryRun ?? false });
    return { data: report, human: gcBlocks(report) };
  },
});
