/*
 * What every page shares: the View base class (its data read, marked stale
 * by events, re-read one request at a time by the flush) and actions (their
 * buttons, their results in the message bar).
 */
import { el } from './dom.js';
import { plural } from './format.js';
import { S, say } from './api.js';
import { currentView, requestFlush } from './live.js';

export class View {
  constructor(route) {
    this.route = route;
    this.alive = true;     /* false once the user went elsewhere: late answers are dropped */
    this.dirty = false;    /* the data shown is stale: re-fetch at the next flush */
    this.busy = false;     /* a fetch is under way: at most one at a time, drawn when it answers */
    this.loaded = false;
    this.chain = Promise.resolve();
    this.root = el('div', { class: 'page page-' + route.page });
  }
  mount() { }
  async load() { }
  onEvent() { }
  onCounts() { }   /* the counts of runs not finished changed (views that show them read again) */
  applyLive() { }
  stale() { this.dirty = true; requestFlush(); }
  reload() { this.stale(); }
  /* Queue work after any fetch under way, so answers never interleave. */
  serial(fn) { this.chain = this.chain.then(fn, fn); return this.chain; }
  /*
   * One flush draws once: the answer of the read it starts, with the live
   * values that came meanwhile (in the same task as the answer), or else
   * the live values alone.  While a read is under way a flush does
   * nothing, so at most one redraw follows each flush.
   */
  flush() {
    if (!this.alive || this.busy) return;
    const read = this.nextRead();
    if (!read) { this.applyLive(); return; }
    this.busy = true;
    this.serial(read).then(() => {
      this.busy = false;
      if (!this.alive) return;
      this.applyLive();
      if (this.wants()) requestFlush();
    });
  }
  /* The read this flush makes, or null: the page's data once stale. */
  nextRead() {
    if (!this.dirty) return null;
    this.dirty = false;
    return () => this.load().then(() => { this.loaded = true; this.failed(null); }, e => this.failed(e));
  }
  /* More to read: another flush is due. */
  wants() { return this.dirty; }
  /* A failed load shows the server's message above the page's content. */
  failed(e) {
    if (!this.errEl) { this.errEl = el('div', { class: 'errbox', 'data-testid': 'load-error' }); this.root.prepend(this.errEl); }
    this.errEl.hidden = !e;
    this.errEl.textContent = e ? e.message : '';
  }
  destroy() { this.alive = false; }
}

/* Run an action: the button waits, errors are shown, the view re-reads. */
export async function act(btn, fn) {
  if (btn) btn.disabled = true;
  try {
    await fn();
  } catch (e) {
    say(e.message, 'error');
  } finally {
    if (btn && btn.isConnected) btn.disabled = false;
    const view = currentView();
    if (view) view.stale();
  }
}

/* A button for an action: hidden and disabled on a read-only dashboard. */
export function actionButton(label, testid, onclick, extra) {
  const b = el('button', Object.assign({ type: 'button', class: 'btn', 'data-testid': testid }, extra || {}), label);
  b.addEventListener('click', () => onclick(b));
  if (S.readOnly) { b.disabled = true; b.hidden = true; }
  return b;
}

/* How many runs an action changed, from {changed, matched}. */
export function bulkResult(verb, r, asked) {
  const changed = r.changed || 0;
  const others = (asked != null ? asked : r.matched || 0) - changed;
  let text = `${plural(changed, 'run')} ${verb}`;
  if (others > 0) text += ` (${plural(others, 'other run')} could not be ${verb})`;
  if (changed === 0 && others <= 0) text = `No run ${verb}: none of them is in a state that allows it`;
  return text;
}
