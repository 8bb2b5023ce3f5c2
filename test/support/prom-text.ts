/**
 * A strict reader of Prometheus's text exposition format (0.0.4), for tests: every line must
 * be a HELP, a TYPE or a sample of the family those named, names and labels must follow
 * Prometheus's rules, a family appears once, and counters end in `_total`.
 */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: string;
  help: string;
  samples: PromSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const SUFFIXES: Record<string, string[]> = {
  counter: [''],
  gauge: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
  untyped: [''],
};

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) throw new Error(`bad labels in: ${line}`);
    const [, key = '', raw = ''] = m;
    if (!LABEL.test(key) || key.startsWith('__')) throw new Error(`bad label ${key}: ${line}`);
    if (key in labels) throw new Error(`label ${key} twice: ${line}`);
    labels[key] = raw.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    at = re.lastIndex;
  }
  return labels;
}

function parseValue(text: string, line: string): number {
  // Prometheus reads values with Go's ParseFloat, which takes NaN and Inf in any case
  // (prom-client writes an event loop lag it has not measured yet as `Nan`).
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan') return NaN;
  const value = Number(text);
  if (text === '' || !Number.isFinite(value)) throw new Error(`bad value: ${line}`);
  return value;
}

function parseSample(line: string): PromSample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
  if (!m) throw new Error(`not a sample: ${line}`);
  const [, name = '', labels = '', value = ''] = m;
  return { name, labels: parseLabels(labels, line), value: parseValue(value, line) };
}

export function parsePromText(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  let current: PromFamily | undefined;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const help = /^# HELP (\S+) (.*)$/.exec(line);
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (help) {
      const name = help[1] ?? '';
      if (!NAME.test(name)) throw new Error(`bad metric name ${name}`);
      if (families.has(name)) throw new Error(`family ${name} appears twice`);
      current = { name, type: '', help: help[2] ?? '', samples: [] };
      families.set(name, current);
    } else if (type) {
      if (!current || current.name !== type[1] || current.type !== '')
        throw new Error(`TYPE without its HELP: ${line}`);
      current.type = type[2] ?? '';
      if (current.type === 'counter' && !current.name.endsWith('_total'))
        throw new Error(`counter ${current.name} does not end in _total`);
    } else if (line.startsWith('#')) {
      throw new Error(`unexpected comment: ${line}`);
    } else {
      if (!current || current.type === '') throw new Error(`sample before its TYPE: ${line}`);
      const sample = parseSample(line);
      const suffix = sample.name.slice(current.name.length);
      if (!sample.name.startsWith(current.name) || !(SUFFIXES[current.type] ?? []).includes(suffix))
        throw new Error(`sample ${sample.name} outside its family ${current.name}`);
      current.samples.push(sample);
    }
  }
  return families;
}

/** The sum of a family's samples whose labels include `match`. */
export function sumOf(
  families: Map<string, PromFamily>,
  name: string,
  match: Record<string, string> = {},
  sampleName = name,
): number {
  const family = families.get(name);
  if (!family) return 0;
  return family.samples
    .filter((s) => s.name === sampleName)
    .filter((s) => Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}
