import { h } from '../dom.mjs';
import { openSession, sessionProblem } from '../session.mjs';

/** The console shown is its last this many characters; older text scrolls away. */
const CONSOLE_CHARS = 200_000;
/** A command's output shown is cut here; the rest is read (credit flows) but not kept. */
const OUTPUT_CHARS = 1_000_000;

/**
 * The instance's console, followed live: its last 200 lines, then what it writes next. Read
 * by its node from the console file (a `logs` session with `console`), so a warm or sleeping
 * instance is not woken. Ends when the page is left.
 */
export function consoleTail(ctx, path, key) {
  const out = h('pre', {
    id: 'console',
    class: 'console',
    // A named, focusable region: it scrolls, and keyboard users can scroll it.
    role: 'region',
    tabindex: '0',
    'aria-label': `Console of ${key}`,
  });
  const state = h('p', { id: 'console-state', role: 'status' }, 'Connecting…');
  const again = h('button', { type: 'button', hidden: true, onclick: () => void follow() });
  again.textContent = 'Follow again';
  let session;
  let text = '';
  const show = (more) => {
    text = (text + more).slice(-CONSOLE_CHARS);
    out.textContent = text;
    out.scrollTop = out.scrollHeight;
  };
  async function follow() {
    again.hidden = true;
    text = '';
    out.textContent = '';
    state.textContent = 'Connecting…';
    let outcome;
    let failure;
    try {
      session = await openSession(
        path,
        'logs',
        { kind: 'logs', console: true, tail: 200, follow: true },
        {
          onOutput: (_channel, chunk) => show(chunk),
          // Admitted; its node starts the session once its tunnel is there.
          onOpen: () => (state.textContent = 'Waiting for its node…'),
          onStarted: () => {
            state.textContent =
              'Following the console, as its node keeps it (a sleeping instance is not woken).';
          },
        },
      );
      if (ctx.signal.aborted) session.close();
      outcome = await session.done;
    } catch (error) {
      failure = error;
    }
    if (ctx.signal.aborted) return;
    state.textContent = `Console not followed: ${sessionProblem(outcome, failure) ?? 'its node ended the session'}`;
    again.hidden = false;
  }
  ctx.signal.addEventListener('abort', () => session?.close());
  void follow();
  return h(
    'section',
    { 'aria-labelledby': 'console-heading' },
    h('h2', { id: 'console-heading' }, 'Console'),
    state,
    out,
    again,
  );
}

/**
 * Runs a command in the instance (`/bin/sh -c`, no input) and shows its stdout, its stderr
 * (marked) and its exit status. An exec session like `mvm instance exec`: a warm or sleeping
 * instance is woken first, and the session is an audit event under the page's token.
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
  async function execute(command) {
    out.replaceChildren();
    shown = 0;
    delete status.dataset.exit;
    status.textContent = 'Running…';
    run.disabled = true;
    let outcome;
    let failure;
    try {
      session = await openSession(
        path,
        'exec',
        { kind: 'exec', argv: ['/bin/sh', '-c', command], stdin: false },
        { onOutput: append, onStarted: () => (stop.disabled = false) },
      );
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
      class: 'inline',
      'aria-label': `Run a command in ${key}`,
      onsubmit: (e) => {
        e.preventDefault();
        const command = input.value.trim();
        if (command !== '' && session === undefined) void execute(command);
      },
    },
    h('label', { for: 'exec-command' }, 'Command'),
    input,
    run,
    stop,
  );
  return h(
    'section',
    { 'aria-labelledby': 'exec-heading' },
    h('h2', { id: 'exec-heading' }, 'Run a command'),
    h(
      'p',
      {},
      'Runs under /bin/sh -c in the instance, with no input; a sleeping one is woken first.',
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
