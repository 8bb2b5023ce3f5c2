import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/**
 * xterm.js (the `@xterm/xterm` dependency, pinned) and its fit addon, served to the instance
 * page's terminal from the package itself: nothing is fetched from elsewhere, nothing built.
 *
 * The pages' CSP allows no inline style (`style-src 'self'`), and xterm's DOM renderer writes
 * three `<style>` elements and one `style` attribute. So its module is served with two exact
 * rewrites: those elements are `<mvm-style>` ones (a custom element the page defines, which
 * holds its text as a constructed stylesheet adopted by the document: CSSOM, allowed by the
 * CSP), and the attribute is set through `style.cssText` (CSSOM too). Each rewrite must match
 * the pinned version exactly as many times as expected, or the module is refused (a newer
 * xterm needs its rewrites checked again).
 */
interface Rewrite {
  from: string;
  to: string;
  times: number;
}

const XTERM_REWRITES: readonly Rewrite[] = [
  { from: '.createElement("style")', to: '.createElement("mvm-style")', times: 3 },
  {
    from: '_addStyle(t,e){t.setAttribute("style",`${t.getAttribute("style")||""}${e};`)}',
    to: '_addStyle(t,e){t.style.cssText+=`${e};`}',
    times: 1,
  },
];

/** The custom element that stands for xterm's `<style>` elements (terminal.mjs defines it). */
export const XTERM_STYLE_ELEMENT = 'mvm-style';

export class VendorRewriteError extends Error {}

/** Applies each rewrite, refusing a source where one does not match exactly as expected. */
export function rewriteXterm(source: string): string {
  let out = source;
  for (const r of XTERM_REWRITES) {
    const found = out.split(r.from).length - 1;
    if (found !== r.times)
      throw new VendorRewriteError(
        `xterm.mjs: expected ${r.times} of ${JSON.stringify(r.from)}, found ${found}`,
      );
    out = out.split(r.from).join(r.to);
  }
  return withoutSourceMap(out);
}

/** Its source map is not shipped to the browser: no request for it. */
export function withoutSourceMap(source: string): string {
  return source.replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n');
}

function packageFile(specifier: string): string {
  return fileURLToPath(import.meta.resolve(specifier));
}

let xterm: Promise<string> | undefined;

/** xterm's ES module, rewritten once per process. */
export function xtermModule(): Promise<string> {
  xterm ??= readFile(packageFile('@xterm/xterm/lib/xterm.mjs'), 'utf8').then(rewriteXterm);
  return xterm;
}

export async function xtermStylesheet(): Promise<string> {
  return readFile(packageFile('@xterm/xterm/css/xterm.css'), 'utf8');
}

export async function fitAddonModule(): Promise<string> {
  return withoutSourceMap(
    await readFile(packageFile('@xterm/addon-fit/lib/addon-fit.mjs'), 'utf8'),
  );
}
