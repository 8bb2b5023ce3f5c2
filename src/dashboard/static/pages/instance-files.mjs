import { h } from '../dom.mjs';
import { openSession, sessionProblem } from '../session.mjs';

/** The largest file the page copies either way (it holds the whole file): 64 MiB. */
const MAX_FILE_BYTES = 64 * 1024 * 1024;
/** Permission bits of an uploaded file (a browser's file has none). */
const UPLOAD_MODE = 0o644;

const octal = (mode) => `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
const baseName = (path) => path.slice(path.lastIndexOf('/') + 1);

/**
 * One file into or out of the instance, as `mvm instance cp` copies it: a `put` or `get`
 * session on the exec route (the same tickets). An upload goes as input within the session's
 * credit and is written atomically in the guest (mode 0644; a path ending in `/` takes the
 * file's name); a download is read whole, then offered as a link to save. A warm or sleeping
 * instance is woken first; each copy is an `instance.cp` audit event under the page's token.
 */
export function fileCopy(ctx, path, key) {
  const sessions = new Set();
  ctx.signal.addEventListener('abort', () => {
    for (const s of sessions) s.close();
  });

  const file = h('input', { id: 'upload-file', type: 'file', required: true });
  const to = h('input', {
    id: 'upload-path',
    type: 'text',
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: '/tmp/',
    pattern: '/.*',
    size: '40',
  });
  const sendButton = h('button', { type: 'submit' }, 'Upload');
  const upStatus = h('p', { id: 'upload-status', role: 'status' });

  async function upload() {
    const chosen = file.files?.[0];
    if (!chosen) return;
    if (chosen.size > MAX_FILE_BYTES) {
      upStatus.dataset.bytes = 'none';
      upStatus.textContent = `Not copied: larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB (use mvm instance cp)`;
      return;
    }
    const dest = to.value.endsWith('/') ? `${to.value}${chosen.name}` : to.value;
    sendButton.disabled = true;
    delete upStatus.dataset.bytes;
    upStatus.textContent = `Copying ${chosen.name} to ${dest}…`;
    let outcome;
    let failure;
    try {
      const bytes = new Uint8Array(await chosen.arrayBuffer());
      let session;
      session = await openSession(
        path,
        'exec',
        { kind: 'put', path: dest, mode: UPLOAD_MODE },
        {
          onStarted: () => {
            session.input(bytes);
            session.end();
          },
        },
      );
      sessions.add(session);
      outcome = await session.done;
      sessions.delete(session);
    } catch (error) {
      failure = error;
    }
    sendButton.disabled = false;
    const exit = outcome?.exit;
    upStatus.dataset.bytes = exit ? String(exit.bytes ?? 0) : 'none';
    upStatus.textContent = exit
      ? `Copied ${exit.bytes ?? 0} bytes to ${dest} (mode ${octal(UPLOAD_MODE)})`
      : `Not copied: ${sessionProblem(outcome, failure) ?? 'the session ended'}`;
  }

  const from = h('input', {
    id: 'download-path',
    type: 'text',
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
    pattern: '/.*',
    size: '40',
  });
  const getButton = h('button', { type: 'submit' }, 'Download');
  const downStatus = h('p', { id: 'download-status', role: 'status' });
  const saveSlot = h('p', {});
  let saved;

  async function download() {
    const source = from.value;
    getButton.disabled = true;
    delete downStatus.dataset.bytes;
    downStatus.textContent = `Reading ${source}…`;
    if (saved) URL.revokeObjectURL(saved);
    saved = undefined;
    saveSlot.replaceChildren();
    const chunks = [];
    let size = 0;
    let mode;
    let tooBig = false;
    let outcome;
    let failure;
    try {
      let session;
      session = await openSession(
        path,
        'exec',
        { kind: 'get', path: source },
        {
          onStarted: (started) => {
            mode = started.mode;
            if ((started.size ?? 0) > MAX_FILE_BYTES) {
              tooBig = true;
              session.close();
            }
          },
          onBytes: (_channel, bytes, drawn) => {
            size += bytes.length;
            if (size > MAX_FILE_BYTES) {
              tooBig = true;
              session.close();
              return;
            }
            chunks.push(bytes.slice());
            drawn();
          },
        },
      );
      sessions.add(session);
      outcome = await session.done;
      sessions.delete(session);
    } catch (error) {
      failure = error;
    }
    getButton.disabled = false;
    const exit = outcome?.exit;
    if (!exit || tooBig) {
      downStatus.dataset.bytes = 'none';
      downStatus.textContent = tooBig
        ? `Not copied: larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB (use mvm instance cp)`
        : `Not copied: ${sessionProblem(outcome, failure) ?? 'the session ended'}`;
      return;
    }
    const name = baseName(source) || 'download';
    saved = URL.createObjectURL(new Blob(chunks, { type: 'application/octet-stream' }));
    downStatus.dataset.bytes = String(exit.bytes ?? size);
    downStatus.textContent = `Read ${exit.bytes ?? size} bytes from ${source}${mode === undefined ? '' : ` (mode ${octal(mode)})`}`;
    saveSlot.replaceChildren(
      h('a', { id: 'download-link', href: saved, download: name }, `Save ${name}`),
    );
  }
  ctx.signal.addEventListener('abort', () => saved && URL.revokeObjectURL(saved));

  const form = (label, onsubmit, ...children) =>
    h(
      'form',
      {
        class: 'inline',
        'aria-label': label,
        onsubmit: (e) => {
          e.preventDefault();
          void onsubmit();
        },
      },
      ...children,
    );
  return h(
    'section',
    { 'aria-labelledby': 'files-heading' },
    h('h2', { id: 'files-heading' }, 'Copy a file'),
    h(
      'p',
      {},
      `One file either way, as mvm instance cp copies it (at most ${MAX_FILE_BYTES / 1024 / 1024} MiB here); a sleeping instance is woken first.`,
    ),
    form(
      `Upload a file into ${key}`,
      upload,
      h('label', { for: 'upload-file' }, 'File'),
      file,
      h('label', { for: 'upload-path' }, 'To (absolute path in the instance)'),
      to,
      sendButton,
    ),
    upStatus,
    form(
      `Download a file from ${key}`,
      download,
      h('label', { for: 'download-path' }, 'From (absolute path in the instance)'),
      from,
      getButton,
    ),
    downStatus,
    saveSlot,
  );
}
