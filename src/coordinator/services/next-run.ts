/**
 * Runs of one job, at most one at a time and one queued: a request while a run is in progress
 * gets the next run, which starts when that one ends, and every request made before the next
 * run starts shares it. A run therefore always starts after the request it answers (it sees
 * that caller's commits), and a burst of N requests costs two runs, not N. The scheduler's
 * passes go through one of these per replica: a pass reads what is unplaced when it starts.
 */
export class NextRun<T> {
  private running: Promise<T> | undefined;
  private queued: Promise<T> | undefined;

  constructor(private readonly run: () => Promise<T>) {}

  request(): Promise<T> {
    if (this.queued) return this.queued;
    const current = this.running;
    if (!current) return this.start();
    const settled = current.then(
      () => undefined,
      () => undefined,
    );
    const queued = settled.then(() => {
      this.queued = undefined;
      return this.start();
    });
    this.queued = queued;
    return queued;
  }

  private start(): Promise<T> {
    const run = this.run();
    this.running = run;
    const clear = () => {
      if (this.running === run) this.running = undefined;
    };
    run.then(clear, clear);
    return run;
  }
}
