/**
 * Named steps' durations for a bench that times the parts of one path: `time` runs a step and
 * notes how long it took, `note` records a duration measured otherwise, `steps` holds them in
 * the order first seen (cleared by the bench after its warm-up).
 */
export function stepTimer(): {
  steps: Map<string, number[]>;
  note: (name: string, ms: number) => void;
  time: <T>(name: string, step: () => T) => T;
} {
  const steps = new Map<string, number[]>();
  const note = (name: string, ms: number) => {
    steps.set(name, [...(steps.get(name) ?? []), ms]);
  };
  const time = <T>(name: string, step: () => T): T => {
    const started = performance.now();
    const value = step();
    note(name, performance.now() - started);
    return value;
  };
  return { steps, note, time };
}
