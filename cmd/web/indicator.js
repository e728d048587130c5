/*
 * zapjobs status indicator: <zapjobs-status>, a Web Component any page can
 * show by loading this script from a zapjobs web dashboard:
 *
 *   <script src="http://HOST:PORT/BASE/indicator.js"></script>
 *
 * It appends one <zapjobs-status> to the page (unless the page has one) and
 * talks to the dashboard the script came from: api/active for what runs and
 * the event stream for changes (cross-origin: start zapjobs web with
 * --allow-origin).  Progress events move the bars in place; run events make
 * it re-read api/active; both redraw at most 10 times a second.
 *
 * Database strings (names, messages) are only ever set as text.  Styles live
 * in the shadow root; the page's own CSS neither leaks in nor is touched.
 */
(function () {
  'use strict';

  /* Where the dashboard is: the folder of this script's own URL, known only now. */
  const script = document.currentScript;
  const DASHBOARD = new URL('.', script && script.src ? script.src : location.href).href;
  const FLUSH_MS = 100;

  const CSS = `
:host { position: fixed; right: 16px; bottom: 16px; z-index: 2147483000; display: block;
  font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #1d2430; }
:host([inline]) { position: relative; right: auto; bottom: auto; display: inline-block; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
.pill { display: flex; align-items: center; gap: 8px; padding: 6px 12px; border-radius: 18px; cursor: pointer;
  border: 1px solid #d6dbe3; background: #fff; color: inherit; font: inherit; box-shadow: 0 2px 8px rgba(20, 30, 50, .15); }
.pill:hover { border-color: #aeb8c6; }
.dot { width: 9px; height: 9px; border-radius: 50%; background: #8a94a3; flex: none; }
.state { font-weight: 600; white-space: nowrap; }
.count { font-variant-numeric: tabular-nums; font-weight: 600; }
.unit, .pend { color: #667085; white-space: nowrap; }
.bar { display: block; width: 90px; height: 6px; border-radius: 3px; background: #e8ecf2; overflow: hidden; flex: none; }
.fill { display: block; height: 100%; width: 0; background: #2f6fde; border-radius: 3px; transition: width .2s ease-out; }
.chip { background: #fdeeee; color: #b42323; border-radius: 9px; padding: 0 7px; font-size: 11.5px; white-space: nowrap; }
:host([data-state="in progress"]) .dot { background: #2f6fde; }
:host([data-state="done"]) .dot { background: #1f9d55; }
:host([data-state="done"]) .fill { background: #1f9d55; }
:host([data-failed]) .dot, :host([data-state="error"]) .dot { background: #d64545; }
:host([data-failed]) .pill .fill, :host([data-state="error"]) .fill { background: #d64545; }
:host([data-state="error"]) .pill { border-color: #e5b3b3; }
:host([data-live="closed"]) .dot { opacity: .45; }
.indeterminate .fill { width: 35% !important; animation: slide 1.3s linear infinite; }
@keyframes slide { from { transform: translateX(-100%); } to { transform: translateX(290%); } }
.panel { position: absolute; right: 0; bottom: calc(100% + 8px); width: 360px; max-height: 70vh; overflow: auto;
  background: #fff; border: 1px solid #d6dbe3; border-radius: 10px; box-shadow: 0 8px 28px rgba(20, 30, 50, .22); padding: 10px 12px; }
:host([inline]) .panel { bottom: auto; top: calc(100% + 8px); }
h3 { margin: 6px 0 4px; font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: #667085; }
a { color: inherit; text-decoration: none; }
.run { display: grid; grid-template-columns: minmax(0, 1fr) 90px 44px; gap: 2px 8px; align-items: center; padding: 5px 4px; border-radius: 6px; }
.run:hover, .hist:hover { background: #f3f6fa; }
.run .bar { width: 90px; }
.run .msg { grid-column: 1 / -1; color: #667085; font-size: 12px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.pct { text-align: right; font-variant-numeric: tabular-nums; color: #667085; font-size: 12px; }
.hist { display: grid; grid-template-columns: 82px minmax(0, 1fr) auto; gap: 8px; align-items: center; padding: 3px 4px; border-radius: 6px; }
.st { display: inline-block; text-align: center; border-radius: 9px; font-size: 11px; font-weight: 600; color: #fff; background: #8a94a3; padding: 0 6px; }
.st-completed { background: #1f9d55; } .st-failed { background: #d64545; } .st-cancelled { background: #d99a00; }
.hist time { color: #667085; font-size: 12px; font-variant-numeric: tabular-nums; }
.none { color: #667085; padding: 2px 4px; }
.foot { display: flex; justify-content: space-between; align-items: center; margin-top: 8px; padding-top: 8px; border-top: 1px solid #e2e6ec; }
.foot a { color: #2f6fde; }
.foot .live { color: #667085; font-size: 12px; }
`;

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) if (attrs[k] != null) e.setAttribute(k, String(attrs[k]));
    for (const k of kids.flat()) if (k != null) e.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
    return e;
  }
  const pad = n => String(n).padStart(2, '0');
  const round1 = x => Math.round(x * 10) / 10;
  function hhmmss(s) {
    const d = s ? new Date(s) : null;
    return d && !isNaN(d) ? `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` : '';
  }
  function percentOf(r) {
    if (r.percent != null) return +r.percent;
    if (r.progress_total > 0 && r.progress_current != null) return Math.min(100, 100 * r.progress_current / r.progress_total);
    return null;
  }
  /* A bar: a <span> with data-percent and a filled part (width through CSSOM, not a style attribute). */
  function setBar(bar, pct, indeterminate) {
    const p = pct == null ? 0 : Math.max(0, Math.min(100, pct));
    bar.setAttribute('data-percent', String(round1(p)));
    bar.classList.toggle('indeterminate', !!indeterminate);
    bar.firstChild.style.width = p + '%';
  }
  const newBar = attrs => el('span', Object.assign({ class: 'bar', 'data-percent': '0' }, attrs || {}), el('span', { class: 'fill' }));

  class ZapjobsStatus extends HTMLElement {
    constructor() {
      super();
      this.running = [];       /* api/active's running runs, progress events merged in */
      this.pending = 0;
      this.recent = [];
      this.failedEvent = false;
      this.dirty = false;      /* api/active must be read again */
      this.busy = false;
      this.timer = 0;
      this.lastFlush = 0;
      this.retryDelay = 1000;
      const root = this.attachShadow({ mode: 'open' });
      const style = document.createElement('style');
      style.textContent = CSS;
      root.appendChild(style);
      /* the same rules as a constructed sheet too: it applies where a CSP refuses <style> */
      try {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        root.adoptedStyleSheets = [sheet];
      } catch (e) { /* older browsers: the <style> element is enough */ }

      this.dot = el('span', { class: 'dot' });
      this.stateEl = el('span', { class: 'state', 'data-testid': 'indicator-state' }, 'idle');
      this.countEl = el('span', { class: 'count', 'data-testid': 'indicator-count' }, '0');
      this.pendEl = el('span', { class: 'pend' });
      this.chip = el('span', { class: 'chip', hidden: '' });
      this.bar = newBar({ 'data-testid': 'indicator-bar' });
      this.pill = el('button', { type: 'button', class: 'pill', part: 'pill', 'aria-expanded': 'false', title: 'zapjobs' },
        this.dot, this.stateEl, this.countEl, el('span', { class: 'unit' }, 'running'), this.pendEl, this.chip, this.bar);
      this.runList = el('div', { class: 'list' });
      this.histList = el('div', { class: 'list' });
      this.runHead = el('h3', null, 'Running');
      this.liveEl = el('span', { class: 'live' }, 'connecting…');
      this.dashLink = el('a', { target: '_blank', rel: 'noopener', 'data-testid': 'indicator-dashboard' }, 'Open dashboard →');
      this.panel = el('div', { class: 'panel', 'data-testid': 'indicator-panel', hidden: '', role: 'dialog', 'aria-label': 'zapjobs operations' },
        this.runHead, this.runList, el('h3', null, 'Recent'), this.histList, el('div', { class: 'foot' }, this.liveEl, this.dashLink));
      root.append(this.pill, this.panel);

      this.pill.addEventListener('click', () => this.toggle());
      this.onDocClick = e => { if (!e.composedPath().includes(this)) this.toggle(false); };
      this.onKey = e => { if (e.key === 'Escape') this.toggle(false); };
    }

    /* The dashboard's URL: the dashboard attribute, else where this script came from. */
    get base() { return new URL(this.getAttribute('dashboard') || DASHBOARD, location.href).href; }

    connectedCallback() {
      this.dashLink.setAttribute('href', new URL('#/', this.base).href);
      document.addEventListener('click', this.onDocClick);
      document.addEventListener('keydown', this.onKey);
      this.render();
      this.stale();
      this.connect();
    }

    disconnectedCallback() {
      document.removeEventListener('click', this.onDocClick);
      document.removeEventListener('keydown', this.onKey);
      if (this.es) this.es.close();
      this.es = null;
      clearTimeout(this.timer);
      clearTimeout(this.reconnect);
    }

    toggle(open) {
      const show = open == null ? this.panel.hidden : open;
      this.panel.hidden = !show;
      this.pill.setAttribute('aria-expanded', String(show));
    }

    connect() {
      const es = this.es = new EventSource(new URL('events', this.base).href);
      es.onopen = () => { this.retryDelay = 1000; this.setLive(true); this.stale(); };
      es.onerror = () => {
        this.setLive(false);
        /* closed for good (refused, or no CORS): open again later ourselves */
        if (es.readyState === EventSource.CLOSED && this.es === es) {
          this.reconnect = setTimeout(() => { if (this.isConnected) this.connect(); }, this.retryDelay);
          this.retryDelay = Math.min(60000, this.retryDelay * 2);
        }
      };
      es.onmessage = m => { try { this.onEvent(JSON.parse(m.data)); } catch (e) { /* not an event */ } };
      es.addEventListener('resync', () => this.stale());
      /* the pending count is taken every few seconds: read it again when it changed */
      es.addEventListener('counts', () => this.stale());
    }

    setLive(open) {
      this.setAttribute('data-live', open ? 'open' : 'closed');
      this.liveEl.textContent = open ? '● live' : '○ reconnecting';
    }

    onEvent(ev) {
      if (ev.type === 'progress') {
        const r = this.running.find(x => x.id === ev.id);
        if (!r) { this.stale(); return; }   /* a run we have not read yet */
        if (ev.current != null) r.progress_current = ev.current;
        if (ev.total != null) r.progress_total = ev.total;
        r.percent = ev.percent;
        if (ev.message != null) r.progress_message = ev.message;
        this.schedule();
      } else if (ev.type === 'run' || ev.type === 'runs') {
        if (ev.status === 'failed') this.failedEvent = true;   /* red at once, before api/active answers */
        this.stale();
      }
    }

    stale() { this.dirty = true; this.schedule(); }

    /* One flush at most every 100 ms: re-read api/active if needed (one read at a time), redraw. */
    schedule() {
      if (this.timer) return;
      this.timer = setTimeout(() => {
        this.timer = 0;
        this.lastFlush = performance.now();
        if (this.dirty && !this.busy) this.fetchActive();
        this.render();
      }, Math.max(0, this.lastFlush + FLUSH_MS - performance.now()));
    }

    async fetchActive() {
      this.dirty = false;
      this.busy = true;
      try {
        const res = await fetch(new URL('api/active', this.base).href, { cache: 'no-store' });
        if (!res.ok) throw new Error('HTTP ' + res.status);
        const d = await res.json();
        this.running = d.running || [];
        this.pending = d.pending || 0;
        this.recent = d.recent || [];
        this.failedEvent = false;   /* from now on a failed run shows in recent */
        this.error = null;
      } catch (e) {
        this.error = e.message;
      } finally {
        this.busy = false;
        this.schedule();
      }
    }

    /* idle: nothing ever ran; in progress: runs running or pending; error: the last run to finish failed; done: otherwise. */
    state() {
      if (this.running.length || this.pending > 0) return 'in progress';
      if (this.recent.length && this.recent[0].status === 'failed') return 'error';
      return this.recent.length ? 'done' : 'idle';
    }

    render() {
      const state = this.state();
      const failed = this.recent.filter(r => r.status === 'failed').length;
      this.setAttribute('data-state', state);
      if (failed || this.failedEvent) this.setAttribute('data-failed', ''); else this.removeAttribute('data-failed');
      this.stateEl.textContent = state;
      this.countEl.textContent = String(this.running.length);
      this.pendEl.textContent = this.pending ? `· ${this.pending} pending` : '';
      this.chip.hidden = !failed;
      this.chip.textContent = `${failed} failed`;
      const pcts = this.running.map(percentOf).filter(p => p != null);
      const avg = pcts.length ? pcts.reduce((a, b) => a + b, 0) / pcts.length : null;
      if (state === 'in progress') setBar(this.bar, avg, avg == null && this.running.length > 0);
      else setBar(this.bar, state === 'idle' ? 0 : 100, false);
      this.pill.title = this.error ? `zapjobs: ${this.error}` : `zapjobs: ${this.running.length} running, ${this.pending} pending`;
      this.renderPanel();
    }

    renderPanel() {
      const base = this.base;
      this.runHead.textContent = `Running (${this.running.length})` + (this.pending ? ` · ${this.pending} pending` : '');
      this.runList.replaceChildren(...(this.running.length ? this.running.map(r => {
        const pct = percentOf(r);
        const bar = newBar();
        setBar(bar, pct, pct == null);
        return el('a', { class: 'run', 'data-testid': 'indicator-run', 'data-run-id': r.id, href: new URL('#/run/' + r.id, base).href, target: '_blank', rel: 'noopener' },
          el('span', { class: 'name', title: r.name || '' }, r.name || `run #${r.id}`), bar,
          el('span', { class: 'pct' }, pct == null ? '…' : round1(pct) + '%'),
          r.progress_message ? el('span', { class: 'msg' }, r.progress_message) : null);
      }) : [el('div', { class: 'none' }, this.error ? `Cannot reach the dashboard (${this.error})` : 'Nothing running.')]));
      this.histList.replaceChildren(...(this.recent.length ? this.recent.map(r =>
        el('a', { class: 'hist', 'data-testid': 'indicator-recent', 'data-run-id': r.id, href: new URL('#/run/' + r.id, base).href, target: '_blank', rel: 'noopener', title: r.error_message || '' },
          el('span', { class: 'st st-' + String(r.status).replace(/[^a-z_]/g, '') }, r.status),
          el('span', { class: 'name' }, r.name || `run #${r.id}`),
          el('time', { datetime: r.finished_at }, hhmmss(r.finished_at))))
        : [el('div', { class: 'none' }, 'No finished runs.')]));
    }
  }

  if (!customElements.get('zapjobs-status')) customElements.define('zapjobs-status', ZapjobsStatus);

  /* One indicator per page: add it once the page is parsed, unless the page placed its own. */
  function addOne() {
    if (!document.querySelector('zapjobs-status') && document.body) document.body.appendChild(document.createElement('zapjobs-status'));
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', addOne);
  else addOne();
})();
