// Types for the Node tests of prom.mjs (the browser loads the .mjs as it is).
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface RouteLatency {
  route: string;
  count: number;
  p50: number;
  p99: number;
}
export function parseProm(text: string): Sample[];
export function byLabel(samples: Sample[], name: string, key: string): Map<string, number>;
export function latencyByRoute(samples: Sample[], name: string): RouteLatency[];
