import { h } from '../dom.mjs';
import { openSession, sessionProblem } from '../session.mjs';

/** The console shown is its last this many characters; older text scrolls away. */
const CONSOLE_CHARS = 200_000;
/** A command's output shown is cut here; the rest is read (credit flows) but not kept. */
const OUTPUT_CHARS = 1_000_000;
/** The most input the box sends (it is held in the page); more: `mvm instance exec`. */
const INPUT_BYTES = 1024 * 1024;

/** What the logs section can follow: the console (never wakes) or the workload's output. */
const SOURCES = {
  console: {
    label: 'Console (read by its node; never wakes it)',
    following: 'Following the console, as its node keeps it (a sleeping instance is not woken).',
  },
  workload: {
    label: 'Workload output (read through its guest; wakes a sleeping instance)',
    following: "Following the workload's output, read through its guest.",
  },
};

/**
 * The instance's console, followed live: its last 200 lines, then what it writes next. Read
 * by its node from the console file (a `logs` session with `console`), so a warm or sleeping
 * instance is not woken; or, when chosen, the workload's output (a `logs` session without
 * `console`, which wakes the instance as `mvm instance logs` does). Ends when the page is left.
 */
export function consoleTail(ctx, path, key) {
  const out = h('pre', {
    id: 'console',
    class: 'console',
    // A named, focusable region: it scrolls, and keyboard users can scroll it.
    role: 'region',
    tabindex: '0',
    'aria-label': `Logs of ${key}`,
  });
  const state = h('p', { id: 'console-state', role: 'status' }, 'Connecting…');
  const again = h('button', { type: 'button', hidden: true, onclick: () => void follow() });
  again.textContent = 'Follow again';
  const source = h(
    'select',
    {
      id: 'log-source',
      onchange: () => {
        session?.close();
        void follow();
      },
    },
    Object.entries(SOURCES).map(([value, s]) => h('option', { value }, s.label)),
  );
  let session;
  // Each follow is one generation: a source switched mid-way retires the older one.
  let generation = 0;
  let text = '';
  const show = (more) => {
    text = (text + more).slice(-CONSOLE_CHARS);
    out.textContent = text;
    out.scrollTop = out.scrollHeight;
  };
  async function follow() {
    const mine = ++generation;
    const current = () => mine === generation && !ctx.signal.aborted;
    const from = SOURCES[source.value] ?? SOURCES.console;
    again.hidden = true;
    text = '';
    out.textContent = '';
    state.textContent = 'Connecting…';
    let outcome;
    let failure;
    try {
      const opened = await openSession(
        path,
        'logs',
        { kind: 'logs', console: from === SOURCES.console, tail: 200, follow: true },
        {
          onOutput: (_channel, chunk) => current() && show(chunk),
          // Admitted; its node starts the session once its tunnel is there.
          onOpen: () => current() && (state.textContent = 'Waiting for its node…'),
          onStarted: () => current() && (state.textContent = from.following),
        },
      );
      if (!current()) opened.close();
      else session = opened;
      outcome = await opened.done;
    } catch (error) {
      failure = error;
    }
    if (!current()) return;
    state.textContent = `Not followed: ${sessionProblem(outcome, failure) ?? 'its node ended the session'}`;
    again.hidden = false;
  }
  ctx.signal.addEventListener('abort', () => session?.close());
  void follow();
  return h(
    'section',
    { 'aria-labelledby': 'console-heading' },
    h('h2', { id: 'console-heading' }, 'Console'),
    h('p', {}, h('label', { for: 'log-source' }, 'Show'), source),
    state,
    out,
    again,
  );
}

/**
 * Runs a command in the instance (`/bin/sh -c`) and shows its stdout, its stderr (marked) and
 * its exit status. What is in the input box is sent as the command's stdin, within the
 * session's credit, then its end; with the box empty the command reads nothing (/dev/null).
 * One-shot: for a conversation with a program, the terminal. An exec session like `mvm
 * instance exec`: a warm or sleeping instance is woken first, and the session is an audit
 * event under the page's token.
 */
export function execBox(ctx, path, key) {
  const input = h('input', {
    id: 'exec-command',
    type: 'text',
    name: 'command',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    size: '60',
  });
  const stdin = h('textarea', {
    id: 'exec-stdin',
    name: 'stdin',
    rows: '4',
    cols: '60',
    spellcheck: 'false',
    'aria-describedby': 'exec-stdin-help',
  });
  const stdinHelp = h(
    'small',
    { id: 'exec-stdin-help' },
    "Sent as the command's stdin, then its end (at most 1 MiB); empty: no input.",
  );
  const run = h('button', { type: 'submit' }, 'Run');
  const stop = h('button', {
    type: 'button',
    disabled: true,
    'aria-label': `stop the command in ${key}`,
    onclick: () => session?.signal('TERM'),
  });
  stop.textContent = 'Stop';
  const out = h('pre', {
    id: 'exec-output',
    role: 'region',
    tabindex: '0',
    'aria-label': 'Command output (stderr marked)',
  });
  const status = h('p', { id: 'exec-status', role: 'status' });
  let session;
  let shown = 0;
  const append = (channel, chunk) => {
    if (shown >= OUTPUT_CHARS) return;
    const part = chunk.slice(0, OUTPUT_CHARS - shown);
    shown += part.length;
    out.append(channel === 'stderr' ? h('span', { class: 'stderr' }, part) : part);
    if (shown >= OUTPUT_CHARS)
      out.append(h('em', {}, '\n(output cut here: use mvm instance exec)'));
  };
  async function execute(command, input) {
    out.replaceChildren();
    shown = 0;
    delete status.dataset.exit;
    if (input.length > INPUT_BYTES) {
      status.dataset.exit = 'none';
      status.textContent = 'Not run: the input is larger than 1 MiB (use mvm instance exec)';
      return;
    }
    status.textContent = 'Running…';
    run.disabled = true;
    let outcome;
    let failure;
    try {
      let opened;
      opened = await openSession(
        path,
        'exec',
        { kind: 'exec', argv: ['/bin/sh', '-c', command], stdin: input.length > 0 },
        {
          onOutput: append,
          onStarted: () => {
            stop.disabled = false;
            if (input.length === 0) return;
            opened.input(input);
            opened.end();
          },
        },
      );
      session = opened;
      if (ctx.signal.aborted) session.close();
      outcome = await session.done;
    } catch (error) {
      failure = error;
    }
    session = undefined;
    run.disabled = false;
    stop.disabled = true;
    const exit = outcome?.exit;
    status.dataset.exit = exit ? String(exit.code) : 'none';
    status.textContent = exit ? exitText(exit) : `Not run: ${sessionProblem(outcome, failure)}`;
  }
  ctx.signal.addEventListener('abort', () => session?.close());
  const form = h(
    'form',
    {
      class: 'exec',
      'aria-label': `Run a command in ${key}`,
      onsubmit: (e) => {
        e.preventDefault();
        const command = input.value.trim();
        const bytes = new TextEncoder().encode(stdin.value);
        if (command !== '' && session === undefined) void execute(command, bytes);
      },
    },
    h('div', { class: 'row' }, h('label', { for: 'exec-command' }, 'Command'), input, run, stop),
    h('div', { class: 'row' }, h('label', { for: 'exec-stdin' }, 'Input'), stdin, stdinHelp),
  );
  return h(
    'section',
    { 'aria-labelledby': 'exec-heading' },
    h('h2', { id: 'exec-heading' }, 'Run a command'),
    h(
      'p',
      {},
      'Runs once under /bin/sh -c in the instance, with the input below as its stdin; a sleeping one is woken first. For an interactive program, open a terminal.',
    ),
    form,
    out,
    status,
  );
}

function exitText(exit) {
  if (exit.timedOut) return `Timed out (exit ${exit.code})`;
  if (exit.signal) return `Killed by ${exit.signal} (exit ${exit.code})`;
  return `Exit ${exit.code}`;
}
