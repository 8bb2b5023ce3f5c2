/**
 * Builds DOM nodes from values: text always goes in as text (never as HTML), so nothing the
 * API returns can become markup or script.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** A table with a caption, headers, and one row per item (`cells` gives a row's cells). */
export function table(caption, headers, items, cells, rowAttrs = () => ({})) {
  return h(
    'table',
    {},
    h('caption', {}, caption),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        headers.map((t) => h('th', { scope: 'col' }, t)),
      ),
    ),
    h(
      'tbody',
      {},
      items.map((item) =>
        h(
          'tr',
          rowAttrs(item),
          cells(item).map((c) => cell(c)),
        ),
      ),
    ),
  );
}

function cell(c) {
  if (c instanceof Node && c.nodeName === 'TD') return c;
  if (typeof c === 'number') return h('td', { class: 'num' }, String(c));
  return h('td', {}, c);
}

/** A headline count the tests and the eye both read: `data-count` holds the exact number. */
export function count(label, value, name) {
  return h('li', { dataset: { count: name } }, h('strong', {}, String(value)), label);
}

export function replace(target, ...children) {
  target.replaceChildren(...children.flat().filter((c) => c !== undefined && c !== null));
}
