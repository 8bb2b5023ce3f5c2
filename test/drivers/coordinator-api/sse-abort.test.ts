/**
 * `readServerSentEvents` ends when its signal aborts even if nothing else ends the stream: a
 * server stream that never closes, whose request signal is never aborted (what an in-process
 * `app.fetch` gets once undici has collected the request's own controller). The abort
 * cancels the body, so the server side sees its stream cancelled.
 */
import { describe, expect, it } from 'vitest';
import { readServerSentEvents } from '../../../src/drivers/coordinator-api/sse.ts';

function endlessStream(): { body: ReadableStream<Uint8Array>; cancelled: Promise<unknown> } {
  const encoder = new TextEncoder();
  let timer: NodeJS.Timeout | undefined;
  let onCancel: (reason: unknown) => void = () => {};
  const cancelled = new Promise<unknown>((r) => (onCancel = r));
  let n = 0;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const tick = () => {
        controller.enqueue(encoder.encode(`event: tick\ndata: ${n++}\n\n`));
        timer = setTimeout(tick, 10);
      };
      tick();
    },
    cancel(reason) {
      clearTimeout(timer);
      onCancel(reason);
    },
  });
  return { body, cancelled };
}

describe('readServerSentEvents', () => {
  it('returns and cancels the body when its signal aborts mid-stream', async () => {
    const { body, cancelled } = endlessStream();
    const stop = new AbortController();
    const seen: string[] = [];
    const done = readServerSentEvents(new Response(body), stop.signal, (event, data) => {
      seen.push(`${event} ${data}`);
      if (seen.length === 3) stop.abort(new Error('enough'));
    });
    await expect(done).resolves.toBeUndefined();
    expect(seen.slice(0, 3)).toEqual(['tick 0', 'tick 1', 'tick 2']);
    await expect(cancelled).resolves.toBeInstanceOf(Error);
  });

  it('reads nothing from a stream whose signal was aborted before', async () => {
    const { body, cancelled } = endlessStream();
    const seen: string[] = [];
    await readServerSentEvents(new Response(body), AbortSignal.abort(), (e) => seen.push(`${e}`));
    expect(seen).toEqual([]);
    await cancelled;
  });

  it('hands over every event of a stream the server closes', async () => {
    const text = 'event: a\ndata: 1\nid: 7\n\n: keepalive\n\nevent: b\ndata: 2\n\n';
    const seen: string[] = [];
    await readServerSentEvents(new Response(text), new AbortController().signal, (e, d, id) =>
      seen.push(`${e} ${d} ${id}`),
    );
    expect(seen).toEqual(['a 1 7', 'b 2 undefined']);
  });
});
