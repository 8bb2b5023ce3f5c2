/**
 * Scheduler benchmark: time to place 10,000 instances on 1,000 simulated nodes with the same
 * pure placement the coordinator runs (goal: under 1 s). Prints the median of 5 runs.
 *   npx tsx bench/scheduler-placement.ts [instances] [nodes]
 */
import {
  placeInstances,
  type PlacementNode,
  type PlacementRequest,
} from '../src/core/placement.ts';

const instances = Number(process.argv[2] ?? 10_000);
const nodeCount = Number(process.argv[3] ?? 1_000);
const statuses = ['running', 'running', 'warm', 'sleeping'] as const;

function nodes(): PlacementNode[] {
  return Array.from({ length: nodeCount }, (_, i) => ({
    id: `node-${String(i).padStart(4, '0')}`,
    vcpus: 64,
    memMib: 256 * 1024,
    usedVcpus: 0,
    usedMemMib: 0,
    poolCounts: {},
  }));
}

function requests(): PlacementRequest[] {
  return Array.from({ length: instances }, (_, i) => ({
    key: `t${i % 50}/p${i % 200}/i${i}`,
    pool: `t${i % 50}/p${i % 200}`,
    vcpus: 1 + (i % 4),
    memMib: 512 * (1 + (i % 4)),
    desiredStatus: statuses[i % statuses.length] ?? 'running',
  }));
}

const times: number[] = [];
let placed = 0;
for (let run = 0; run < 5; run += 1) {
  const input = requests();
  const start = process.hrtime.bigint();
  const result = placeInstances(nodes(), input);
  times.push(Number(process.hrtime.bigint() - start) / 1e6);
  placed = result.placed.length;
}
times.sort((a, b) => a - b);
const median = times[2] ?? Number.NaN;
console.log(`placed ${placed}/${instances} instances on ${nodeCount} nodes`);
console.log(
  `median ${median.toFixed(1)} ms (runs: ${times.map((t) => t.toFixed(0)).join(', ')} ms); goal < 1000 ms`,
);
