/**
 * The node side of agent-node-process.ts: says `up <json>`, then answers each command line
 * (`name arg`) on stdin with `ok <json>` or `err <message>`.
 */
import { createInterface } from 'node:readline';
import pino from 'pino';

export type NodeCommands = Record<string, (arg: string) => Promise<unknown>>;

export function serveCommands(up: unknown, commands: NodeCommands): void {
  console.log(`up ${JSON.stringify(up)}`);
  createInterface({ input: process.stdin }).on('line', (line) => {
    const [name = '', arg = ''] = line.split(' ');
    const command = commands[name];
    if (!command) return console.log(`err unknown command '${name}'`);
    command(arg).then(
      (result) => console.log(`ok ${JSON.stringify(result)}`),
      (error: unknown) =>
        console.log(`err ${error instanceof Error ? error.message : String(error)}`),
    );
  });
}

/** The node's agent log: warnings and errors on stderr, which the test keeps for a failure. */
export function nodeLogger(): pino.Logger {
  return pino({ level: 'warn' }, pino.destination(2));
}
