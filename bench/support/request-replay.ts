/**
 * The client half of `bench/heartbeat-cost.ts --http`: a child process that replays requests
 * it is handed over one keep-alive socket (http-json.ts), one at a time, so the parent's CPU
 * time is the coordinator's alone. Messages in: { url, token, requests } (answered 'ready'),
 * then 'go'; message out: { asked } (how many answers asked for a whole report) once every
 * request was answered.
 */
import { jsonClient } from './http-json.ts';

export interface ReplayRequest {
  method: string;
  path: string;
  body: unknown;
}

export interface ReplayJob {
  url: string;
  token: string;
  requests: ReplayRequest[];
}

process.once('message', (job: ReplayJob) => {
  process.once('message', () => {
    void replay(job).then(
      (asked) => process.send?.({ asked }),
      (error: unknown) => process.send?.({ error: String(error) }),
    );
  });
  process.send?.('ready');
});

async function replay(job: ReplayJob): Promise<number> {
  const client = jsonClient(job.url, job.token, 1);
  let asked = 0;
  try {
    for (const { method, path, body } of job.requests) {
      const answer = (await client.call(method, path, body)) as { fullReport?: boolean };
      if (answer.fullReport === true) asked += 1;
    }
  } finally {
    client.close();
  }
  return asked;
}
