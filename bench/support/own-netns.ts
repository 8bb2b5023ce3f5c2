import { spawnSync } from 'node:child_process';

/** The argument a bench adds when it re-runs itself inside its namespace. */
const IN_NS = '--in-netns';

/**
 * Runs `main` inside a network namespace of its own (root): the first call re-runs this
 * script with `args` inside a fresh namespace `<prefix>-<pid>` and deletes it afterwards, so
 * the bench's bridges, taps and nftables never touch the host's network; inside, it calls
 * `main`.
 */
export async function inOwnNetns(
  prefix: string,
  args: readonly string[],
  main: () => Promise<void>,
): Promise<void> {
  if (process.argv.includes(IN_NS)) return main();
  const ns = `${prefix}-${process.pid}`;
  const run = (argv: string[]) => spawnSync('ip', argv, { stdio: 'inherit' });
  run(['netns', 'add', ns]);
  try {
    const script = process.argv[1] ?? '';
    const child = spawnSync(
      'ip',
      ['netns', 'exec', ns, process.execPath, ...process.execArgv, script, ...args, IN_NS],
      { stdio: 'inherit' },
    );
    process.exitCode = child.status ?? 1;
  } finally {
    run(['netns', 'del', ns]);
  }
}
