/** A few lines instead of a framework: build elements with text (never HTML), so job data cannot inject markup. */
type Child = Node | string | number | false | null | undefined;
type Attr = string | boolean | ((e: Event) => void);

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, Attr> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else if (v !== false) el.setAttribute(k, v);
  }
  for (const c of children)
    if (c !== false && c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

export const $ = <T extends HTMLElement = HTMLElement>(selector: string): T =>
  document.querySelector<T>(selector)!;

export function save(blob: Blob, fileName: string): void {
  const a = h('a', { href: URL.createObjectURL(blob), download: fileName });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

export const when = (iso: string | undefined): string =>
  iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' }) : '';

export function duration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}

/** Replaces a container's children and keeps keyboard focus on the same link or button (live refresh redraws). */
export function redraw(container: HTMLElement, children: Node[]): void {
  const active = document.activeElement;
  const id = (el: Element): string => `${el.tagName}|${el.getAttribute('href') ?? el.textContent}`;
  const was = active && active !== container && container.contains(active) ? id(active) : undefined;
  container.replaceChildren(...children);
  if (!was) return;
  const again = [...container.querySelectorAll<HTMLElement>(active!.tagName)].find((el) => id(el) === was);
  again?.focus();
}
