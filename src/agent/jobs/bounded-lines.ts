import type { Readable } from 'node:stream';

/** A line longer than the bound: the guest broke the call protocol. */
export class LineTooLong extends Error {}

/**
 * The lines of a guest's stream, each at most `maxBytes`: a guest that sends more without a
 * newline is cut off rather than buffered without end.
 */
export async function* boundedLines(input: Readable, maxBytes: number): AsyncGenerator<string> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of input as AsyncIterable<Buffer>) {
    let rest = chunk;
    for (let at = rest.indexOf(10); at >= 0; at = rest.indexOf(10)) {
      if (size + at > maxBytes) throw new LineTooLong(`a call line is over ${maxBytes} bytes`);
      parts.push(rest.subarray(0, at));
      yield Buffer.concat(parts).toString('utf8');
      parts = [];
      size = 0;
      rest = rest.subarray(at + 1);
    }
    size += rest.length;
    if (size > maxBytes) throw new LineTooLong(`a call line is over ${maxBytes} bytes`);
    if (rest.length > 0) parts.push(rest);
  }
}
