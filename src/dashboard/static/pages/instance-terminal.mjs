import { h } from '../dom.mjs';
import { openSession, sessionProblem } from '../session.mjs';

/** Lines kept above the screen. */
const SCROLLBACK = 2000;

/**
 * The stand-in for xterm's `<style>` elements (src/dashboard/xterm-vendor.ts rewrites them to
 * this tag): its text becomes a constructed stylesheet adopted by the document while it is
 * connected, so the page's CSP needs no inline style.
 */
function defineStyleElement() {
  if (customElements.get('mvm-style')) return;
  class AdoptedStyle extends HTMLElement {
    #sheet = new CSSStyleSheet();
    #text = '';
    get textContent() {
      return this.#text;
    }
    set textContent(text) {
      this.#text = String(text ?? '');
      this.#sheet.replaceSync(this.#text);
    }
    connectedCallback() {
      const doc = this.ownerDocument;
      if (!doc.adoptedStyleSheets.includes(this.#sheet))
        doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, this.#sheet];
    }
    disconnectedCallback() {
      const doc = this.ownerDocument;
      doc.adoptedStyleSheets = doc.adoptedStyleSheets.filter((s) => s !== this.#sheet);
    }
  }
  customElements.define('mvm-style', AdoptedStyle);
}

async function loadXterm() {
  defineStyleElement();
  const [{ Terminal }, { FitAddon }] = await Promise.all([
    import('/ui/vendor/xterm.mjs'),
    import('/ui/vendor/addon-fit.mjs'),
  ]);
  return { Terminal, FitAddon };
}

/**
 * An interactive shell in the instance: a `pty` session on the exec route, as `mvm instance
 * shell` opens (the image's /bin/sh, TERM xterm-256color), drawn by xterm.js. Keystrokes go
 * as input within the session's credit; output is credited back once xterm has drawn it; the
 * terminal follows its box's size (resize). A warm or sleeping instance is woken first; the
 * session is an `instance.shell` audit event under the page's token. Tab goes to the shell;
 * Shift+Tab leaves the terminal.
 */
export function terminalBox(ctx, path, key) {
  const screen = h('div', { id: 'terminal', class: 'terminal', hidden: true });
  const status = h('p', { id: 'terminal-status', role: 'status' }, 'No terminal open.');
  const open = h('button', { type: 'button', id: 'terminal-open' }, 'Open a terminal');
  const close = h(
    'button',
    {
      type: 'button',
      id: 'terminal-close',
      disabled: true,
      'aria-label': `close the terminal in ${key}`,
    },
    'Close',
  );
  let session;
  let term;
  let observer;
  const dispose = () => {
    observer?.disconnect();
    observer = undefined;
  };
  async function start() {
    open.disabled = true;
    delete status.dataset.exit;
    status.textContent = 'Connecting…';
    let outcome;
    let failure;
    try {
      const { Terminal, FitAddon } = await loadXterm();
      term?.dispose();
      screen.replaceChildren();
      screen.hidden = false;
      term = new Terminal({ scrollback: SCROLLBACK, fontFamily: 'monospace', fontSize: 14 });
      const fit = new FitAddon();
      term.loadAddon(fit);
      term.open(screen);
      fit.fit();
      const mine = term;
      const sized = () => {
        screen.dataset.cols = String(mine.cols);
        screen.dataset.rows = String(mine.rows);
      };
      sized();
      // Shift+Tab is not the shell's: it leaves the terminal, as anywhere else on the page.
      term.attachCustomKeyEventHandler((e) => !(e.key === 'Tab' && e.shiftKey));
      const encoder = new TextEncoder();
      session = await openSession(
        path,
        'exec',
        { kind: 'pty', cols: term.cols, rows: term.rows, env: { TERM: 'xterm-256color' } },
        {
          onBytes: (_channel, bytes, drawn) => mine.write(bytes, drawn),
          onOpen: () => (status.textContent = 'Waiting for its node…'),
          onStarted: () => {
            status.textContent = `Connected to ${key}. Tab goes to the shell; Shift+Tab leaves the terminal.`;
            close.disabled = false;
            mine.focus();
          },
        },
      );
      const opened = session;
      term.onData((data) => opened.input(encoder.encode(data)));
      term.onBinary((data) => opened.input(Uint8Array.from(data, (c) => c.charCodeAt(0) & 255)));
      term.onResize(({ cols, rows }) => {
        sized();
        opened.resize(cols, rows);
      });
      observer = new ResizeObserver(() => fit.fit());
      observer.observe(screen);
      if (ctx.signal.aborted) session.close();
      outcome = await session.done;
    } catch (error) {
      failure = error;
    }
    dispose();
    session = undefined;
    if (term) term.options.disableStdin = true;
    open.disabled = false;
    close.disabled = true;
    open.textContent = 'Open a new terminal';
    const exit = outcome?.exit;
    status.dataset.exit = exit ? String(exit.code) : 'none';
    status.textContent = exit
      ? `The shell ended: ${exitText(exit)}`
      : `Not connected: ${sessionProblem(outcome, failure) ?? 'the session ended'}`;
  }
  open.addEventListener('click', () => void start());
  close.addEventListener('click', () => session?.close());
  ctx.signal.addEventListener('abort', () => {
    session?.close();
    dispose();
    term?.dispose();
  });
  return h(
    'section',
    { 'aria-labelledby': 'terminal-heading' },
    h('h2', { id: 'terminal-heading' }, 'Terminal'),
    h(
      'p',
      {},
      'An interactive /bin/sh in the instance (a pty, as mvm instance shell); a sleeping one is woken first.',
    ),
    h('p', {}, open, close),
    status,
    screen,
  );
}

function exitText(exit) {
  if (exit.signal) return `killed by ${exit.signal} (exit ${exit.code})`;
  return `exit ${exit.code}`;
}
