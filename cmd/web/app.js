/*
 * zapjobs web: the dashboard's browser side.
 *
 * Plain DOM, no framework, no build step.  Every string from the database
 * reaches the page through text nodes (el(), textContent): nothing here
 * assigns innerHTML, so a job named "<img onerror=...>" shows literally.
 *
 * The location hash picks a view (#/runs?status=failed, #/run/42...).  A view
 * loads its data from the JSON API and then listens to the event stream:
 * progress events are kept for the next redraw, other events only mark the
 * view stale, and one flush at most every 100 ms re-fetches, one request at
 * a time, so thousands of events a second cost at most 10 fetches and 10
 * redraws a second.
 */
'use strict';

(function () {
  const main = document.getElementById('main');
  const msgBar = document.getElementById('msgbar');
  const msgBox = document.getElementById('message');
  const liveEl = document.getElementById('live');

  const STATUSES = ['waiting', 'scheduled', 'pending', 'running', 'awaiting_retry', 'completed', 'failed', 'cancelled'];
  const CANCELLABLE = ['waiting', 'scheduled', 'pending', 'running', 'awaiting_retry'];
  const RETRYABLE = ['failed', 'cancelled'];
  const FILTER_KEYS = ['status', 'queue', 'name', 'owner', 'q', 'from', 'to'];
  const FLUSH_MS = 100;         /* at most 10 renders/re-fetches a second */
  const PAGE_SIZE = 50;         /* runs on a page of the runs list */
  const MAX_LOG_LINES = 5000;   /* older lines leave the page, not the database */

  /* What the server told us about this session (GET api/session). */
  const S = { csrf: null, readOnly: true, skew: 0 };
  let view = null;

  /* ------------------------------------------------------------------ */
  /* DOM helpers: attributes via setAttribute, children as text nodes.   */
  /* ------------------------------------------------------------------ */

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    add(e, kids);
    return e;
  }

  function setAttrs(e, attrs) {
    for (const k in attrs || {}) {
      const v = attrs[k];
      if (v == null || v === false) continue;
      if (k === 'class') e.setAttribute('class', v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') e[k] = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
  }

  /* Append nodes or strings (as text); arrays are flattened, null skipped. */
  function add(parent, kids) {
    for (const k of [kids].flat(Infinity)) {
      if (k == null || k === false) continue;
      parent.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return parent;
  }

  const SVG_NS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, ...kids) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const k in attrs || {}) e.setAttribute(k, String(attrs[k]));
    return add(e, kids);
  }

  /* A class name made of a database value (a status), reduced to safe characters. */
  function cls(v) { return String(v == null ? '' : v).toLowerCase().replace(/[^a-z0-9_-]/g, ''); }

  function badge(status) { return el('span', { class: 'st st-' + cls(status) }, status == null ? '—' : status); }

  function td(content, c) { return el('td', c ? { class: c } : null, content); }

  function table(head, body) {
    return el('table', null,
      el('thead', null, el('tr', null, head.map(h => Array.isArray(h) ? el('th', { class: h[1] }, h[0]) : el('th', null, h)))),
      body);
  }

  function emptyRow(ncols, text) { return el('tr', null, el('td', { class: 'empty', colspan: ncols }, text)); }

  /*
   * A tbody whose rows are kept by key: a row whose data did not change keeps
   * its element, so a click, hover or focus on it survives the re-renders
   * that events cause.  update(rows, key, build, salt): salt is any other
   * input of build (a scale) that must rebuild rows when it changes.
   */
  function keyedBody(ncols, emptyText) {
    const tbody = el('tbody', null, emptyRow(ncols, 'Loading…'));
    let cache = new Map();
    tbody.update = (rows, key, build, salt) => {
      const next = new Map();
      const trs = rows.map(r => {
        const k = key(r), sig = JSON.stringify(r) + (salt || '');
        let c = cache.get(k);
        if (!c || c.sig !== sig) c = { sig, tr: build(r) };
        next.set(k, c);
        return c.tr;
      });
      cache = next;
      const cur = tbody.children;
      if (!trs.length) tbody.replaceChildren(emptyRow(ncols, emptyText));
      else if (cur.length !== trs.length || trs.some((tr, i) => cur[i] !== tr)) tbody.replaceChildren(...trs);
    };
    return tbody;
  }

  function section(title, testid, ...kids) {
    return el('section', { class: 'panel', 'data-testid': testid }, el('h2', null, title), kids);
  }

  /* ------------------------------------------------------------------ */
  /* Formatting                                                         */
  /* ------------------------------------------------------------------ */

  const NF = new Intl.NumberFormat('en-US');
  function num(n) { return n == null ? '—' : NF.format(n); }
  function pad(n, w) { return String(n).padStart(w || 2, '0'); }
  function round1(x) { return Math.round(x * 10) / 10; }

  function toDate(s) { if (!s) return null; const d = new Date(s); return isNaN(d) ? null : d; }

  function fmtFull(s) {
    const d = toDate(s);
    if (!d) return '—';
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  /* Today's times as HH:MM:SS, older ones with their date. */
  function fmtShort(s) {
    const d = toDate(s);
    if (!d) return '—';
    const t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    return d.toDateString() === new Date().toDateString() ? t : `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${t}`;
  }

  function fmtDur(sec) {
    if (sec == null || isNaN(sec)) return '—';
    sec = Math.max(0, +sec);
    if (sec < 1) return Math.round(sec * 1000) + 'ms';
    if (sec < 60) return (sec < 10 ? round1(sec) : Math.round(sec)) + 's';
    const m = Math.floor(sec / 60), s = Math.floor(sec % 60);
    if (m < 60) return `${m}m ${pad(s)}s`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h}h ${pad(m % 60)}m`;
    return `${Math.floor(h / 24)}d ${h % 24}h`;
  }

  function timeCell(s) { return el('time', { datetime: s || null, title: s ? fmtFull(s) : null }, fmtShort(s)); }

  /* An age that the clock below keeps current ("3m 05s ago"); never fetches. */
  function ageEl(s, suffix) {
    if (!s) return el('span', { class: 'muted' }, '—');
    const e = el('span', { 'data-since': s, 'data-suffix': suffix || '', title: fmtFull(s) });
    e.textContent = ageText(e);
    return e;
  }
  function ageText(e) {
    return fmtDur((Date.now() + S.skew - Date.parse(e.getAttribute('data-since'))) / 1000) + e.getAttribute('data-suffix');
  }
  /* Re-labels relative times once a second; data only changes by events. */
  setInterval(() => {
    if (document.hidden) return;
    for (const e of main.querySelectorAll('[data-since]')) e.textContent = ageText(e);
  }, 1000);

  function runLink(id) { return id == null ? el('span', { class: 'muted' }, '—') : el('a', { href: '#/run/' + encodeURIComponent(id) }, '#' + id); }

  function nameText(name) { return name == null || name === '' ? el('span', { class: 'nameless' }, 'unnamed') : name; }

  function runsHref(filter) { const q = qs(filter); return '#/runs' + (q ? '?' + q : ''); }

  function qs(obj) {
    const p = new URLSearchParams();
    for (const k in obj) if (obj[k] != null && obj[k] !== '') p.set(k, obj[k]);
    return p.toString();
  }

  function plural(n, word) { return `${num(n)} ${word}${n === 1 ? '' : 's'}`; }

  /* ------------------------------------------------------------------ */
  /* Server access                                                      */
  /* ------------------------------------------------------------------ */

  /* fetch + JSON; a non-2xx answer throws the server's {"error": ...} text. */
  async function api(path, opts) {
    let res;
    try {
      res = await fetch(path, Object.assign({ cache: 'no-store', credentials: 'same-origin' }, opts));
    } catch (e) {
      throw new Error('the dashboard server cannot be reached');
    }
    const text = await res.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { /* not JSON */ }
    if (!res.ok) {
      const err = new Error(body && body.error ? body.error : `HTTP ${res.status} ${res.statusText}`);
      err.status = res.status;
      throw err;
    }
    return body;
  }

  const get = path => api(path, { headers: { Accept: 'application/json' } });

  async function loadSession() {
    const s = await get('api/session');
    S.csrf = s.csrf;
    S.readOnly = !!s.read_only;
    document.getElementById('readonly').hidden = !S.readOnly;
  }

  /* POST with the CSRF token; a 403 about the token (the server restarted) fetches it again once. */
  async function post(path, body) {
    const send = () => api(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': S.csrf || '' },
      body: JSON.stringify(body || {})
    });
    try {
      return await send();
    } catch (e) {
      if (e.status !== 403 || !/CSRF/.test(e.message)) throw e;
      await loadSession();
      return send();
    }
  }

  /* ------------------------------------------------------------------ */
  /* Messages (results of actions, errors)                              */
  /* ------------------------------------------------------------------ */

  function say(content, kind) {
    msgBox.replaceChildren();
    add(msgBox, content);
    msgBar.className = 'msgbar' + (kind === 'error' ? ' error' : '');
    msgBox.setAttribute('data-kind', kind || 'ok');
    msgBar.hidden = false;
  }
  function clearMessage() { msgBox.replaceChildren(); msgBox.removeAttribute('data-kind'); msgBar.hidden = true; }
  document.getElementById('msgclose').addEventListener('click', clearMessage);

  /* Run an action: the button waits, errors are shown, the view re-reads. */
  async function act(btn, fn) {
    if (btn) btn.disabled = true;
    try {
      await fn();
    } catch (e) {
      say(e.message, 'error');
    } finally {
      if (btn && btn.isConnected) btn.disabled = false;
      if (view) view.stale();
    }
  }

  /* A button for an action: hidden and disabled on a read-only dashboard. */
  function actionButton(label, testid, onclick, extra) {
    const b = el('button', Object.assign({ type: 'button', class: 'btn', 'data-testid': testid }, extra || {}), label);
    b.addEventListener('click', () => onclick(b));
    if (S.readOnly) { b.disabled = true; b.hidden = true; }
    return b;
  }

  /* How many runs an action changed, from {changed, matched}. */
  function bulkResult(verb, r, asked) {
    const changed = r.changed || 0;
    const others = (asked != null ? asked : r.matched || 0) - changed;
    let text = `${plural(changed, 'run')} ${verb}`;
    if (others > 0) text += ` (${plural(others, 'other run')} could not be ${verb})`;
    if (changed === 0 && others <= 0) text = `No run ${verb}: none of them is in a state that allows it`;
    return text;
  }

  /* ------------------------------------------------------------------ */
  /* Progress bars                                                      */
  /* ------------------------------------------------------------------ */

  /* A bar whose element carries data-percent; set(null) is "unknown". */
  function progressBar(attrs) {
    const fill = el('div', { class: 'fill' });
    const bar = el('div', Object.assign({ class: 'bar', 'data-percent': '0', role: 'progressbar' }, attrs || {}), fill);
    return {
      node: bar,
      set(pct, status) {
        const known = pct != null && !isNaN(pct);
        const p = known ? Math.max(0, Math.min(100, +pct)) : 0;
        bar.setAttribute('data-percent', String(round1(p)));
        bar.setAttribute('aria-valuenow', String(round1(p)));
        bar.setAttribute('class', 'bar st-' + cls(status) + (!known && status === 'running' ? ' indeterminate' : ''));
        fill.style.width = p + '%';   /* CSSOM, allowed by the CSP */
      }
    };
  }

  /* Percent of a run's progress: reported, computed, or 100 once completed. */
  function percentOf(p) {
    if (p.status === 'completed') return 100;
    if (p.percent != null) return +p.percent;
    if (p.total > 0 && p.current != null) return Math.min(100, 100 * p.current / p.total);
    return null;
  }

  /* Time left as jobs.active computes it: elapsed * (total - current) / current. */
  function etaOf(p) {
    if (p.status !== 'running') return null;
    if (p.total > 0 && p.current >= p.total) return 0;
    const at = Date.parse(p.at), start = Date.parse(p.started_at);
    if (p.total > 0 && p.current > 0 && !isNaN(at) && !isNaN(start)) return (at - start) / 1000 * (p.total - p.current) / p.current;
    return p.eta != null ? p.eta : null;
  }

  /* A progress event merged into what a page holds (null fields: unchanged). */
  function mergeProgress(p, ev) {
    for (const k of ['current', 'total', 'processed', 'succeeded', 'failed', 'message', 'at'])
      if (ev[k] != null) p[k] = ev[k];
    p.percent = ev.percent != null ? ev.percent : null;   /* null: computed from current/total */
    if (['waiting', 'scheduled', 'pending', 'awaiting_retry'].includes(p.status)) p.status = 'running';   /* it started */
    return p;
  }

  /* ------------------------------------------------------------------ */
  /* Views and the flush that coalesces their updates                   */
  /* ------------------------------------------------------------------ */

  let flushTimer = 0;
  let lastFlush = 0;
  /* While a pointer button is down (at most 1 s) nothing is redrawn: a click
     needs the same element under mousedown and mouseup, and a redraw in
     between would replace it and eat the click. */
  let pointerDownAt = 0;
  document.addEventListener('pointerdown', () => { pointerDownAt = performance.now(); }, true);
  for (const t of ['pointerup', 'pointercancel']) document.addEventListener(t, () => { pointerDownAt = 0; }, true);

  function requestFlush() {
    if (flushTimer) return;
    flushTimer = setTimeout(runFlush, Math.max(0, lastFlush + FLUSH_MS - performance.now()));
  }
  function runFlush() {
    flushTimer = 0;
    if (pointerDownAt && performance.now() - pointerDownAt < 1000) { flushTimer = setTimeout(runFlush, 50); return; }
    lastFlush = performance.now();
    if (view) view.flush();
  }

  class View {
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

  /* ---------------------------- Overview ---------------------------- */

  class OverviewView extends View {
    mount() {
      this.title = 'Overview';
      this.counts = el('div', { class: 'counts', 'data-testid': 'counts' });
      this.chart = el('div', { class: 'chart' });
      this.legend = el('div', { class: 'legend' });
      this.queues = queueTable(false);
      this.failures = keyedBody(6, 'No failures.');
      this.poolLine = el('div', { class: 'poolline' });
      this.workers = workerTable(false);
      add(this.root, [
        this.counts,
        el('div', { class: 'grid2 even' },
          section('Throughput, last hour', 'throughput', this.chart, this.legend),
          section('Queues', 'queues', this.queues.node)),
        el('div', { class: 'grid2 even' },
          section('Recent failures', 'failures', table(['When', 'Run', 'Name', ['Att.', 'num'], 'Error', 'Run is'], this.failures)),
          section('Workers', 'workers', this.poolLine, this.workers.node))
      ]);
    }
    async load() {
      const d = await get('api/overview');
      if (!this.alive) return;
      if (d.now) S.skew = Date.parse(d.now) - Date.now();
      this.renderCounts(d);
      drawThroughput(this.chart, this.legend, d.throughput || []);
      this.queues.update(d.queues || []);
      this.renderFailures(d.failures || []);
      this.renderWorkers(d.workers || [], d.pool);
    }
    onEvent(ev) { if (ev.type === 'run' || ev.type === 'runs' || ev.type === 'worker') this.stale(); }
    onCounts() { this.stale(); }

    renderCounts(d) {
      const c = d.counts || {};
      const sums = { completed: 0, failed: 0, cancelled: 0 };
      for (const t of d.throughput || []) for (const k in sums) sums[k] += t[k] || 0;
      const card = (key, n, label, href) =>
        el('a', { class: 'card c-' + key, href, 'data-status': key }, el('span', { class: 'n' }, num(n)), el('span', { class: 'l' }, label));
      const p = d.pool || {};
      this.counts.replaceChildren(
        ...['waiting', 'scheduled', 'pending', 'running', 'awaiting_retry'].map(s => card(s, c[s] || 0, s.replace('_', ' '), runsHref({ status: s }))),
        ...['completed', 'failed', 'cancelled'].map(s => card(s, sums[s], s + ' · 1h', runsHref({ status: s }))),
        card('workers', p.busy || 0, `busy · ${num(p.workers || 0)}/${num(p.max_workers)} workers`, '#/workers'));
    }

    renderFailures(rows) {
      /* one row per attempt that did not complete; the badge is what became of the run */
      this.failures.update(rows, f => f.run_id + '/' + f.attempt, f => el('tr', { 'data-testid': 'failure-row', 'data-run-id': f.run_id },
          td(timeCell(f.finished_at), 'time'), td(runLink(f.run_id)),
          el('td', { class: 'clip narrow', title: `queue ${f.queue}` }, nameText(f.name)), td(num(f.attempt), 'num'),
          el('td', { class: 'clip error narrow', title: [f.outcome, f.error_sqlstate, f.error_message].filter(Boolean).join(' ') },
            f.outcome !== 'failed' ? f.outcome + ': ' : null,
            f.error_sqlstate ? el('span', { class: 'mono' }, f.error_sqlstate + ' ') : null, f.error_message || ''),
          td(badge(f.run_status))));
    }

    renderWorkers(rows, pool) {
      const p = pool || {};
      this.poolLine.textContent =
        `${num(p.workers)} of ${num(p.max_workers)} workers · ${num(p.busy)} busy · ${num(p.idle)} idle · ${num(p.starting)} starting` +
        (p.roles_waiting ? ` · ${num(p.roles_waiting)} roles waiting` : '');
      this.workers.update(rows);
    }
  }

  /* The stacked bars of finished runs per minute, drawn as SVG through the DOM. */
  function drawThroughput(box, legend, points) {
    const W = 640, H = 190, L = 34, R = 6, T = 8, B = 22;
    const pw = W - L - R, ph = H - T - B;
    const n = Math.max(points.length, 1), slot = pw / n, bw = Math.max(1, slot * 0.78);
    const total = t => (t.completed || 0) + (t.failed || 0) + (t.cancelled || 0);
    const peak = Math.max(0, ...points.map(total));
    const top = niceCeil(peak);
    const y = v => T + ph - v / top * ph;
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Runs finished per minute, last hour' });
    const grid = svg('g', { class: 'grid' }), axis = svg('g', { class: 'axis' });
    for (const v of [0, top / 2, top]) {
      grid.appendChild(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      axis.appendChild(svg('text', { x: L - 5, y: y(v) + 3, 'text-anchor': 'end' }, num(round1(v))));
    }
    root.append(grid, axis);
    points.forEach((t, i) => {
      const x = L + i * slot + (slot - bw) / 2;
      const g = svg('g', { class: 'bar' });
      const d = toDate(t.minute);
      g.appendChild(svg('title', null, `${d ? pad(d.getHours()) + ':' + pad(d.getMinutes()) : ''}: ` +
        `${num(t.completed)} completed, ${num(t.failed)} failed, ${num(t.cancelled)} cancelled`));
      g.appendChild(svg('rect', { class: 'hit', x: L + i * slot, y: T, width: slot, height: ph }));
      let base = 0;
      for (const k of ['completed', 'failed', 'cancelled']) {
        const v = t[k] || 0;
        if (!v) continue;
        g.appendChild(svg('rect', { class: k, x: x.toFixed(2), width: bw.toFixed(2), y: y(base + v).toFixed(2), height: (y(base) - y(base + v)).toFixed(2) }));
        base += v;
      }
      root.appendChild(g);
      if (i % 15 === 0 || i === points.length - 1) {
        axis.appendChild(svg('text', { x: (L + i * slot + slot / 2).toFixed(1), y: H - 6, 'text-anchor': i === points.length - 1 ? 'end' : 'middle' },
          i === points.length - 1 ? 'now' : d ? `${pad(d.getHours())}:${pad(d.getMinutes())}` : ''));
      }
    });
    box.replaceChildren(root);
    const sums = { completed: 0, failed: 0, cancelled: 0 };
    for (const t of points) for (const k in sums) sums[k] += t[k] || 0;
    legend.replaceChildren(...Object.keys(sums).map(k =>
      el('span', { 'data-series': k }, el('span', { class: 'sw ' + k }), `${k} ${num(sums[k])}`)),
    el('span', null, `peak ${num(peak)}/min`));
  }

  /* 1, 2, 5 × 10^n at or above v: round numbers for the axis. */
  function niceCeil(v) {
    if (v <= 1) return 1;
    const e = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * e >= v) return m * e;
    return 10 * e;
  }

  /* The queue table, on the overview and (with actions) on the Queues page: {node, update(rows)}. */
  function queueTable(actions) {
    /* the overview (no actions) leaves out the limit and the oldest pending run's age */
    const head = ['Queue', 'Depth', ['Pending', 'num'], ['Sched.', 'num'], ['Retry', 'num'], ['Running', 'num']];
    if (actions) head.push(['Limit', 'num'], 'State', 'Oldest pending', '');
    else head.push('State');
    const tbody = keyedBody(head.length, 'No queues yet.');
    let peak = 1;
    const depth = q => {
      const d = el('span', { class: 'depth', title: `${q.running} running, ${q.pending} pending, ${q.scheduled} scheduled, ${q.awaiting_retry} awaiting retry` });
      for (const k of ['running', 'pending', 'scheduled', 'awaiting_retry']) {
        const s = el('span', { class: 'd-' + k });
        s.style.width = (100 * (q[k] || 0) / peak) + '%';
        d.appendChild(s);
      }
      return d;
    };
    const row = q => el('tr', { 'data-testid': 'queue-row', 'data-queue': q.name },
      td(el('a', { href: runsHref({ queue: q.name }) }, q.name), 'clip'), td(depth(q)),
      td(num(q.pending), 'num'), td(num(q.scheduled), 'num'), td(num(q.awaiting_retry), 'num'), td(num(q.running), 'num'),
      actions ? td(q.max_concurrency == null ? '—' : num(q.max_concurrency), 'num') : null,
      td(q.paused ? badge('paused') : el('span', { class: 'muted' }, 'active')),
      actions ? td(ageEl(q.oldest_pending), 'nowrap') : null,
      actions ? td(q.paused
        ? actionButton('Resume', 'resume-queue', b => queueAction(b, q.name, 'resume'), { class: 'btn small', 'data-queue': q.name })
        : actionButton('Pause', 'pause-queue', b => queueAction(b, q.name, 'pause'), { class: 'btn small', 'data-queue': q.name })) : null);
    return {
      node: table(head, tbody),
      update(rows) {
        peak = Math.max(1, ...rows.map(q => q.pending + q.scheduled + q.awaiting_retry + q.running));
        tbody.update(rows, q => q.name, row, peak);   /* the depth bars scale with the deepest queue */
      }
    };
  }

  function queueAction(btn, name, verb) {
    return act(btn, async () => {
      const r = await post(`api/queues/${encodeURIComponent(name)}/${verb}`, {});
      say(`Queue ${r.queue} ${r.paused ? 'paused' : 'resumed'}`);
    });
  }

  /* The workers table, short on the overview, full on the Workers page: {node, update(rows)}. */
  function workerTable(full) {
    const head = ['PID', 'Role', 'State', 'Run', 'Since'];
    if (full) head.push('Started', 'Last heartbeat', ['Completed', 'num'], ['Failed', 'num']);
    const tbody = keyedBody(head.length, 'No workers running.');
    const row = w => el('tr', { 'data-testid': 'worker-row', 'data-pid': w.pid },
      td(String(w.pid), 'mono'), td(w.role, 'clip'), td(badge(w.state)), td(runLink(w.run_id)), td(ageEl(w.state_since), 'nowrap'),
      full ? [td(timeCell(w.started_at), 'time'), td(ageEl(w.last_heartbeat, ' ago'), 'nowrap'),
        td(num(w.runs_completed), 'num'), td(num(w.runs_failed), 'num')] : null);
    /* the heartbeat moves every few seconds: rows are keyed without it on the overview */
    return { node: table(head, tbody), update: rows => tbody.update(full ? rows : rows.map(w => ({ pid: w.pid, role: w.role, state: w.state, run_id: w.run_id, state_since: w.state_since })), w => w.pid, row) };
  }

  /* ------------------------------ Runs ------------------------------ */

  /* Filter values from the URL: from/to are ISO timestamps, shown in local time. */
  function filterFrom(params) {
    const f = {};
    for (const k of FILTER_KEYS) { const v = params.get(k); if (v) f[k] = v; }
    return f;
  }
  function isoToLocalInput(iso) {
    const d = toDate(iso);
    return d ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}` : '';
  }

  class RunsView extends View {
    mount() {
      this.title = 'Runs';
      this.filter = filterFrom(this.route.params);
      /* the page, in the URL too (before=ID: the runs older than ID); no before: the newest */
      const before = this.route.params.get('before');
      this.before = /^\d+$/.test(before || '') ? +before : null;
      this.rows = [];
      this.next = null;
      this.selected = new Set();
      this.allMatching = false;
      this.cache = new Map();      /* id -> {sig, tr, cb, bar}: unchanged rows are reused */
      this.progress = new Map();   /* progress events not yet drawn, by run id */

      const f = this.filter;
      const input = (name, label, type, list) => el('label', null, label,
        el('input', { type: type || 'text', name, list, 'data-testid': 'filter-' + name, value: type === 'datetime-local' ? isoToLocalInput(f[name]) : (f[name] || '') }));
      const status = el('select', { name: 'status', 'data-testid': 'filter-status' },
        el('option', { value: '' }, 'any'), STATUSES.map(s => el('option', { value: s, selected: f.status === s }, s)));
      this.queueList = el('datalist', { id: 'queue-names' });
      this.nameList = el('datalist', { id: 'job-names' });
      const form = el('form', { class: 'filters panel', 'data-testid': 'filters', autocomplete: 'off' },
        el('label', null, 'Status', status), input('queue', 'Queue', 'text', 'queue-names'), input('name', 'Name', 'text', 'job-names'),
        input('owner', 'Owner'), input('from', 'Created from', 'datetime-local'), input('to', 'Created before', 'datetime-local'),
        input('q', 'Search', 'search'),
        el('div', { class: 'buttons' }, el('button', { type: 'submit', class: 'btn primary' }, 'Apply'),
          el('a', { class: 'btn', href: '#/runs', 'data-testid': 'filter-clear' }, 'Clear')),
        this.queueList, this.nameList);
      form.addEventListener('submit', e => { e.preventDefault(); this.applyForm(form); });
      status.addEventListener('change', () => this.applyForm(form));

      this.selInfo = el('span', { class: 'selinfo', 'data-testid': 'selection' });
      this.allBox = el('input', { type: 'checkbox', 'data-testid': 'select-all-matching' });
      this.allBox.addEventListener('change', () => { this.allMatching = this.allBox.checked; this.renderRows(); });
      this.cancelBtn = actionButton('Cancel', 'cancel-selected', b => this.bulk(b, 'cancel'), { class: 'btn danger' });
      this.retryBtn = actionButton('Retry', 'retry-selected', b => this.bulk(b, 'retry'));
      this.pageBox = el('input', { type: 'checkbox', 'data-testid': 'select-page', 'aria-label': 'select the runs shown' });
      this.pageBox.addEventListener('change', () => {
        for (const r of this.rows) this.pageBox.checked ? this.selected.add(r.id) : this.selected.delete(r.id);
        this.renderRows();
      });
      this.tbody = el('tbody');
      this.more = el('a', { class: 'btn', 'data-testid': 'more' }, 'Older runs');
      this.newest = el('a', { class: 'btn', 'data-testid': 'newest', href: runsHref(this.filter), hidden: this.before == null }, 'Newest runs');
      const selbar = el('div', { class: 'selbar' },
        this.selInfo, el('label', { hidden: S.readOnly }, this.allBox, 'Select all runs matching this filter'),
        this.cancelBtn, this.retryBtn);
      add(this.root, [form, el('section', { class: 'panel', 'data-testid': 'runs' }, selbar,
        table([['', 'check'], 'ID', 'Name', 'Queue', 'Status', ['Attempt', 'num'], 'Progress', 'Created', 'Started', ['Duration', 'num'], 'Error'], this.tbody),
        el('div', { class: 'row' }, this.newest, this.more))]);
      this.rows.length || this.tbody.replaceChildren(emptyRow(11, 'Loading…'));
      this.tbody.parentNode.querySelector('th.check').appendChild(this.pageBox);
      this.pageBox.hidden = S.readOnly;
      this.loadNames();
    }

    applyForm(form) {
      const f = {};
      for (const k of FILTER_KEYS) {
        let v = form.elements[k].value.trim();
        if (v && (k === 'from' || k === 'to')) { const d = new Date(v); v = isNaN(d) ? '' : d.toISOString(); }
        if (v) f[k] = v;
      }
      const hash = runsHref(f);
      if (location.hash === hash) this.reload(); else location.hash = hash;
    }

    /* Suggestions for the queue and name filters (once per visit, not live). */
    async loadNames() {
      try {
        const [queues, defs] = await Promise.all([get('api/queues'), get('api/definitions')]);
        this.queueList.replaceChildren(...queues.map(q => el('option', { value: q.name })));
        this.nameList.replaceChildren(...defs.map(d => el('option', { value: d.name })));
      } catch (e) { /* suggestions only */ }
    }

    /* Read the page again (keyset paging: the same page whatever was added above it). */
    async load() {
      const d = await get('api/runs?' + qs(Object.assign({}, this.filter, { before: this.before, limit: PAGE_SIZE })));
      if (!this.alive) return;
      this.rows = d.runs || [];
      this.next = d.next;
      this.renderRows();
    }

    /* Does an event concern this list?  (Its rows, or runs the filter may match.) */
    concerns(ev) {
      const f = this.filter;
      if (ev.type === 'run' && this.cache.has(ev.id)) return true;
      if (ev.type === 'runs' && this.rows.some(r => r.id >= ev.first_id && r.id <= ev.last_id)) return true;
      if (this.before != null && (ev.type === 'runs' ? ev.first_id : ev.id) >= this.before) return false;   /* above this page */
      if (f.status && ev.status !== f.status) return false;
      if (f.queue && ev.queue != null && ev.queue !== f.queue) return false;
      if (f.name && ev.name != null && ev.name !== f.name) return false;
      return true;
    }

    onEvent(ev) {
      if (ev.type === 'progress') {
        if (this.cache.has(ev.id)) { this.progress.set(ev.id, ev); requestFlush(); }
      } else if ((ev.type === 'run' || ev.type === 'runs') && !this.dirty && this.concerns(ev)) {
        this.stale();
      }
    }

    /* Draw the progress events received since the last flush onto their rows. */
    applyLive() {
      for (const [id, ev] of this.progress) {
        const c = this.cache.get(id);
        if (!c) continue;
        c.p = mergeProgress(c.p, ev);
        c.bar.set(percentOf(c.p), c.p.status);
        c.pct.textContent = percentText(c.p);
      }
      this.progress.clear();
    }

    renderRows() {
      const seen = new Set();
      const trs = this.rows.map(r => {
        seen.add(r.id);
        const sig = JSON.stringify(r);
        let c = this.cache.get(r.id);
        if (!c || c.sig !== sig) { c = this.buildRow(r, sig); this.cache.set(r.id, c); }
        c.cb.checked = this.allMatching || this.selected.has(r.id);
        c.cb.disabled = this.allMatching;
        return c.tr;
      });
      for (const id of this.cache.keys()) if (!seen.has(id)) { this.cache.delete(id); this.selected.delete(id); }
      const cur = this.tbody.children;
      if (!trs.length) this.tbody.replaceChildren(emptyRow(11, 'No runs match this filter.'));
      else if (cur.length !== trs.length || trs.some((tr, i) => cur[i] !== tr)) this.tbody.replaceChildren(...trs);
      this.more.hidden = this.next == null;
      if (this.next != null) this.more.setAttribute('href', runsHref(Object.assign({}, this.filter, { before: this.next })));
      this.renderSelection();
    }

    buildRow(r, sig) {
      const cb = el('input', { type: 'checkbox', 'data-testid': 'select-run', 'aria-label': 'select run ' + r.id, hidden: S.readOnly });
      cb.addEventListener('change', () => { cb.checked ? this.selected.add(r.id) : this.selected.delete(r.id); this.renderSelection(); });
      const p = { status: r.status, current: r.progress_current, total: r.progress_total, percent: null };
      const bar = progressBar();
      const pct = el('span', { class: 'pct' });
      const showBar = r.progress_total > 0 || r.status === 'running';
      if (showBar) { bar.set(percentOf(p), r.status); pct.textContent = percentText(p); }
      const err = [r.error_sqlstate, r.error_message].filter(Boolean).join(' ');
      const tr = el('tr', { 'data-testid': 'run-row', 'data-run-id': r.id, 'data-status': r.status },
        td(cb, 'check'), td(runLink(r.id)),
        td(el('a', { href: '#/run/' + r.id }, nameText(r.name)), 'clip mid'),
        td(el('a', { href: runsHref(Object.assign({}, this.filter, { queue: r.queue })) }, r.queue), 'clip narrow'),
        td(badge(r.status)), td(`${r.attempt}/${r.max_attempts}`, 'num'),
        td(showBar ? el('span', { class: 'mini' }, bar.node, pct) : null),
        td(timeCell(r.created_at), 'time'), td(timeCell(r.started_at), 'time'),
        td(r.duration != null ? fmtDur(r.duration) : (r.status === 'running' ? ageEl(r.started_at) : '—'), 'num'),
        el('td', { class: 'clip mid error', title: err || null }, err));
      return { sig, tr, cb, bar, pct, p };
    }

    renderSelection() {
      const n = this.selected.size;
      this.allBox.checked = this.allMatching;
      this.pageBox.checked = this.rows.length > 0 && this.rows.every(r => this.selected.has(r.id));
      this.pageBox.disabled = this.allMatching;
      this.selInfo.textContent = this.allMatching ? 'All runs matching this filter' : `${num(n)} selected`;
      if (!S.readOnly) this.cancelBtn.disabled = this.retryBtn.disabled = !this.allMatching && n === 0;
    }

    /* Cancel or retry the selected runs, or every run matching the filter. */
    bulk(btn, verb) {
      const all = this.allMatching;
      const ids = [...this.selected];
      const desc = Object.keys(this.filter).map(k => `${k}=${this.filter[k]}`).join(', ');
      const what = all ? `every run matching this filter${desc ? ' (' + desc + ')' : ' (all runs)'}` : plural(ids.length, 'selected run');
      if (verb === 'cancel' && !window.confirm(`Cancel ${what}?`)) return;
      return act(btn, async () => {
        const r = await post('api/runs/' + verb, all ? { filter: this.filter } : { ids });
        say(bulkResult(verb === 'cancel' ? 'cancelled' : 'retried', r, all ? null : ids.length));
        this.selected.clear();
        this.allMatching = false;
        this.renderRows();
      });
    }
  }

  function percentText(p) {
    const pct = percentOf(p);
    return pct == null ? (p.status === 'running' ? '…' : '') : round1(pct) + '%';
  }

  /* ------------------------------ Run ------------------------------- */

  /* The order of the run's fields; any others follow alphabetically. */
  const FIELD_ORDER = ['id', 'name', 'status', 'kind', 'queue', 'priority', 'owner', 'attempt', 'max_attempts',
    'created_at', 'run_at', 'started_at', 'finished_at', 'duration', 'elapsed', 'eta', 'percent', 'timeout',
    'retry_base', 'retry_factor', 'retry_max_delay', 'next_retry_at', 'dedupe_key', 'cancel_requested', 'crashes',
    'worker_pid', 'worker_epoch', 'shell_pgid', 'search_path', 'progress_current', 'progress_total',
    'progress_message', 'progress_at', 'items_processed', 'items_succeeded', 'items_failed',
    'error_sqlstate', 'error_message', 'error_detail', 'error_hint', 'error_context',
    'workflow', 'waiting_for', 'on_parent_failure', 'cancelled_by', 'has_dependents'];
  const SHOWN_APART = ['command', 'input', 'output', 'live'];

  class RunView extends View {
    mount() {
      this.id = this.route.arg;
      this.title = 'Run #' + this.id;
      this.lastLogId = 0;
      this.logDirty = false;     /* log lines after lastLogId were published: read them */
      this.p = null;             /* progress shown: {status,current,total,percent,...} */
      this.progDirty = false;
      this.head = el('div', { class: 'page-head runhead' });
      this.bar = progressBar({ 'data-testid': 'progress-bar' });
      this.progText = el('div', { class: 'progtext', 'data-testid': 'progress-text' });
      this.progMsg = el('div', { class: 'progmsg', 'data-testid': 'progress-message' });
      this.errBox = el('div', { class: 'errbox', 'data-testid': 'run-error', hidden: true });
      this.fields = el('dl', { class: 'fields', 'data-testid': 'run-fields' });
      this.attempts = el('div');
      this.deps = el('div', { 'data-testid': 'run-dependencies' });
      this.log = el('div', { class: 'log', 'data-testid': 'log', 'aria-live': 'off' });
      this.logNote = el('div', { class: 'note', hidden: true });
      this.command = el('pre', { class: 'code', 'data-testid': 'run-command' });
      this.input = el('pre', { class: 'code', 'data-testid': 'run-input' });
      this.output = el('pre', { class: 'code', 'data-testid': 'run-output' });
      this.body = el('div', { hidden: true },
        el('section', { class: 'panel progress' }, el('h2', null, 'Progress'), this.bar.node, this.progText, this.progMsg),
        this.errBox,
        el('div', { class: 'grid2' },
          section('Log', 'log-section', this.log),
          section('Details', 'details', el('div', { class: 'details' }, this.fields))),
        section('Attempts', 'attempts', this.attempts),
        section('Dependencies', 'dependencies', this.deps),
        el('div', { class: 'codes panel' },
          el('div', null, el('h2', null, 'Command'), this.command),
          el('div', null, el('h2', null, 'Input'), this.input),
          el('div', null, el('h2', null, 'Output'), this.output)));
      this.log.appendChild(this.logNote);
      add(this.root, [this.head, this.body]);
    }

    async load() {
      const d = await get('api/runs/' + encodeURIComponent(this.id));
      if (!this.alive) return;
      this.run = d.run;
      this.renderHead(d.run);
      this.takeProgress(d.run);
      this.renderFields(d.run);
      this.renderAttempts(d.run, d.attempts || []);
      this.renderDeps(d.parents || [], d.children || []);
      const first = !this.loaded;
      /* later, lines it has not shown may be more than these last 200: the tail reads them all */
      if (first) this.appendLogs(d.logs || []);
      else if ((d.logs || []).some(l => l.id > this.lastLogId)) this.logDirty = true;
      if (first && (d.logs || []).length >= 200) { this.logNote.hidden = false; this.logNote.textContent = 'Showing the last 200 lines at the time the page opened.'; }
      if (first && !(d.logs || []).length) this.log.appendChild(el('div', { class: 'empty' }, 'No log lines yet.'));
      this.body.hidden = false;
      document.title = `#${d.run.id} ${d.run.name || ''} · zapjobs`;
    }

    reload() { this.stale(); if (this.loaded) { this.logDirty = true; requestFlush(); } }

    onEvent(ev) {
      const id = +this.id;
      if (ev.type === 'progress' && ev.id === id) {
        if (this.p) { mergeProgress(this.p, ev); this.progDirty = true; requestFlush(); }
      } else if (ev.type === 'log' && ev.id === id) {
        if (!(ev.log_id <= this.lastLogId)) { this.logDirty = true; requestFlush(); }
      } else if ((ev.type === 'run' && ev.id === id) || (ev.type === 'runs' && ev.first_id <= id && id <= ev.last_id)) {
        this.stale();
      }
    }

    /* The run when stale, else the log tail; that waits for the first load, whose last 200 lines it continues. */
    nextRead() {
      const run = super.nextRead();
      if (run || !this.loaded || !this.logDirty) return run;
      this.logDirty = false;
      return () => this.fetchLogs();
    }
    wants() { return this.dirty || (this.loaded && this.logDirty); }

    applyLive() {
      if (this.progDirty && this.p) this.renderProgress();
      this.progDirty = false;
    }

    /* Lines after the last one shown (1000 at most per answer: ask again if full). */
    async fetchLogs() {
      try {
        const lines = await get(`api/runs/${encodeURIComponent(this.id)}/logs?after=${this.lastLogId}`);
        if (!this.alive) return;
        this.appendLogs(lines || []);
        if ((lines || []).length >= 1000) this.logDirty = true;
      } catch (e) {
        /* the next event or full load retries */
      }
    }

    appendLogs(lines) {
      const fresh = lines.filter(l => l.id > this.lastLogId);
      if (!fresh.length) return;
      const log = this.log;
      const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
      const empty = log.querySelector('.empty');
      if (empty) empty.remove();
      const frag = document.createDocumentFragment();
      for (const l of fresh) {
        const d = toDate(l.at);
        frag.appendChild(el('div', { class: 'log-line lv-' + cls(l.level), 'data-testid': 'log-line', 'data-log-id': l.id },
          el('span', { class: 't', title: fmtFull(l.at) }, d ? `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}` : ''),
          el('span', { class: 'lv' }, l.level),
          el('span', { class: 'at', title: 'attempt' }, '#' + l.attempt),
          el('span', { class: 'msg' }, l.message, l.context != null ? el('span', { class: 'ctx' }, JSON.stringify(l.context)) : null)));
        this.lastLogId = Math.max(this.lastLogId, l.id);
      }
      log.appendChild(frag);
      const all = log.querySelectorAll('.log-line');
      for (let i = 0; i < all.length - MAX_LOG_LINES; i++) all[i].remove();
      if (atBottom) log.scrollTop = log.scrollHeight;
    }

    renderHead(r) {
      const cancel = actionButton('Cancel run', 'cancel-run', b => {
        if (!window.confirm(`Cancel run #${r.id}?`)) return;
        act(b, async () => say(bulkResult('cancelled', await post('api/runs/cancel', { ids: [r.id] }), 1)));
      }, { class: 'btn danger' });
      const retry = actionButton('Retry run', 'retry-run', b =>
        act(b, async () => say(bulkResult('retried', await post('api/runs/retry', { ids: [r.id] }), 1))));
      if (!S.readOnly) {
        cancel.disabled = !CANCELLABLE.includes(r.status);
        retry.disabled = !RETRYABLE.includes(r.status);
      }
      const since = r.status === 'running' ? el('span', { class: 'muted' }, 'running for ', ageEl(r.started_at))
        : r.finished_at ? el('span', { class: 'muted' }, 'finished ', ageEl(r.finished_at, ' ago')) : null;
      this.head.replaceChildren(
        el('h1', null, el('span', { class: 'rid' }, '#' + r.id),
          el('span', { 'data-testid': 'run-name' }, r.name || ''), r.name ? null : el('span', { class: 'nameless' }, 'unnamed run'),
          el('span', { class: 'st st-' + cls(r.status), 'data-testid': 'run-status' }, r.status)),
        el('span', { class: 'muted' }, `queue ${r.queue} · ${r.kind} · attempt ${r.attempt} of ${r.max_attempts}`),
        since, el('span', { class: 'grow' }), cancel, retry);
    }

    /* Progress from a fresh read, unless events already brought newer values. */
    takeProgress(r) {
      const l = r.live;
      const p = {
        status: r.status, started_at: r.started_at, eta: r.eta, percent: r.percent,
        current: l ? l.current : r.progress_current, total: l ? l.total : r.progress_total,
        message: l ? l.message : r.progress_message, at: l ? l.at : r.progress_at,
        processed: l ? l.processed : r.items_processed, succeeded: l ? l.succeeded : r.items_succeeded,
        failed: l ? l.failed : r.items_failed
      };
      if (this.p && r.status === 'running' && this.p.at && p.at && Date.parse(this.p.at) > Date.parse(p.at))
        this.p = Object.assign(this.p, { status: r.status, started_at: r.started_at });
      else this.p = p;
      this.renderProgress();
    }

    renderProgress() {
      const p = this.p;
      const pct = percentOf(p);
      this.bar.set(pct, p.status);
      const parts = [];
      if (pct != null) parts.push(round1(pct) + '%');
      else parts.push(p.status === 'running' ? 'running, no progress reported' : 'no progress reported');
      const eta = etaOf(p);
      if (eta != null) parts.push('ETA ' + fmtDur(eta));
      if (p.current != null) parts.push(p.total != null ? `${num(p.current)} / ${num(p.total)}` : num(p.current));
      if (p.processed != null) parts.push(`${num(p.processed)} processed`);
      if (p.succeeded != null) parts.push(`${num(p.succeeded)} succeeded`);
      if (p.failed != null) parts.push(`${num(p.failed)} failed`);
      this.progText.textContent = parts.join(' · ');
      this.progMsg.textContent = p.message || '';
    }

    renderFields(r) {
      const keys = FIELD_ORDER.filter(k => k in r).concat(Object.keys(r).filter(k => !FIELD_ORDER.includes(k) && !SHOWN_APART.includes(k)).sort());
      this.fields.replaceChildren(...keys.flatMap(k => [el('dt', null, k), fieldValue(k, r[k])]));
      this.command.textContent = r.command;
      this.input.textContent = r.input == null ? '—' : JSON.stringify(r.input, null, 2);
      this.output.textContent = r.output == null ? '—' : JSON.stringify(r.output, null, 2);
      /* the last error, while it is the run's outcome (not once a retry runs again) */
      const err = (r.error_message || r.error_sqlstate) && ['failed', 'cancelled', 'awaiting_retry'].includes(r.status);
      this.errBox.hidden = !err;
      if (err) this.errBox.replaceChildren(el('span', { class: 'state' }, r.error_sqlstate || ''), r.error_message || '',
        r.error_detail ? '\nDetail: ' + r.error_detail : null, r.error_hint ? '\nHint: ' + r.error_hint : null,
        r.error_context ? '\nContext: ' + r.error_context : null);
    }

    /* The runs it waits for and the runs waiting for it (depends_on), as links. */
    renderDeps(parents, children) {
      const rows = [...parents.map(p => ['waits for', p]), ...children.map(k => ['waited for by', k])];
      this.deps.replaceChildren(table(['', 'Run', 'Name', 'Status'],
        el('tbody', null, rows.length ? rows.map(([rel, x]) => el('tr', { 'data-testid': 'dependency-row' },
          td(rel, 'muted'), td(runLink(x.id)), td(x.name || '—', 'clip'), td(badge(x.status))))
          : emptyRow(4, 'No dependencies.'))));
    }

    renderAttempts(r, attempts) {
      const rows = attempts.slice();
      /* jobs.attempts keeps attempts that did not complete; add the current or last one
         (the run's error columns belong to it only once it has failed: a retried run keeps the old error) */
      const own = r.status === 'failed';
      if (r.attempt > 0 && !rows.some(a => a.attempt === r.attempt))
        rows.push({ attempt: r.attempt, outcome: r.status, started_at: r.started_at, finished_at: r.finished_at,
          error_sqlstate: own ? r.error_sqlstate : null, error_message: own ? r.error_message : null,
          error_detail: own ? r.error_detail : null, error_hint: own ? r.error_hint : null });
      this.attempts.replaceChildren(table([['#', 'num'], 'Outcome', 'Started', 'Finished', ['Took', 'num'], 'Error'],
        el('tbody', null, rows.length ? rows.map(a => el('tr', { 'data-testid': 'attempt-row', 'data-attempt': a.attempt },
          td(String(a.attempt), 'num'), td(badge(a.outcome)), td(timeCell(a.started_at), 'time'), td(timeCell(a.finished_at), 'time'),
          td(a.started_at && a.finished_at ? fmtDur((Date.parse(a.finished_at) - Date.parse(a.started_at)) / 1000) : '—', 'num'),
          el('td', { class: 'error' }, a.error_sqlstate ? el('span', { class: 'mono' }, a.error_sqlstate + ' ') : null, a.error_message || '',
            a.error_detail ? el('div', { class: 'muted small' }, 'Detail: ' + a.error_detail) : null,
            a.error_hint ? el('div', { class: 'muted small' }, 'Hint: ' + a.error_hint) : null)))
          : emptyRow(6, 'Not started yet.'))));
    }
  }

  /* One field of a run, formatted by its kind; always as text. */
  function fieldValue(k, v) {
    if (v == null) return el('dd', { class: 'null' }, 'null');
    if (typeof v === 'boolean') return el('dd', null, v ? 'true' : 'false');
    if (typeof v === 'object') return el('dd', { class: 'mono' }, JSON.stringify(v, null, 2));
    if (/_at$/.test(k)) return el('dd', { title: String(v) }, fmtFull(v));
    if (k === 'eta' || k === 'elapsed') return el('dd', { title: v + ' s' }, fmtDur(v));
    if (k === 'duration' && typeof v === 'number') return el('dd', null, fmtDur(v));
    if (typeof v === 'number' && !/(^id$|_id$|pid$|epoch$|pgid$)/.test(k)) return el('dd', null, num(v));
    return el('dd', null, String(v));
  }

  /* ----------------------------- Queues ----------------------------- */

  class QueuesView extends View {
    mount() {
      this.title = 'Queues';
      this.table = queueTable(true);
      add(this.root, section('Queues', 'queues', this.table.node));
    }
    async load() {
      const rows = await get('api/queues');
      if (this.alive) this.table.update(rows);
    }
    onEvent(ev) { if (ev.type === 'run' || ev.type === 'runs') this.stale(); }
    onCounts() { this.stale(); }
  }

  /* --------------------------- Definitions -------------------------- */

  class DefinitionsView extends View {
    mount() {
      this.title = 'Definitions';
      this.names = new Set();
      this.tbody = keyedBody(10, 'No definitions. Create one with jobs.define() or jobs.schedule().');
      add(this.root, section('Definitions and schedules', 'definitions',
        table(['Name', 'Kind', 'Queue', 'Schedule', 'Next run', 'Last run', ['Skipped', 'num'], 'State', 'Command', ''], this.tbody)));
    }
    async load() {
      const rows = await get('api/definitions');
      if (!this.alive) return;
      this.names = new Set(rows.map(d => d.name));
      this.tbody.update(rows, d => d.name, d => this.row(d));
    }
    /* Only runs of a defined job change this page (a summary may hide its names). */
    onEvent(ev) {
      if ((ev.type === 'run' || ev.type === 'runs') && (ev.name == null || this.names.has(ev.name))) this.stale();
    }
    row(d) {
      const state = !d.enabled ? 'disabled' : d.paused ? 'paused' : 'active';
      return el('tr', { 'data-testid': 'definition-row', 'data-name': d.name },
        el('td', { class: 'clip' }, el('a', { href: runsHref({ name: d.name }) }, d.name),
          d.description ? el('div', { class: 'muted small' }, d.description) : null),
        td(d.kind), td(d.queue == null ? el('span', { class: 'muted' }, 'default') : d.queue, 'clip'),
        td(d.schedule == null ? el('span', { class: 'muted' }, 'on demand') : [el('span', { class: 'mono' }, d.schedule),
          d.timezone ? el('span', { class: 'muted small' }, ' ' + d.timezone) : null], 'nowrap'),
        td(timeCell(d.next_run_at), 'time'),
        td(d.last_run_id == null ? el('span', { class: 'muted' }, 'never')
          : [badge(d.last_status), ' ', runLink(d.last_run_id), ' ', el('span', { class: 'muted' }, timeCell(d.last_run_at))], 'nowrap'),
        td(num(d.skipped_ticks), 'num'), td(badge(state)),
        el('td', { class: 'clip mono', title: d.command }, d.command),
        el('td', { class: 'nowrap' },
          actionButton('Trigger now', 'trigger-definition', b => act(b, async () => {
            const r = await post(`api/definitions/${encodeURIComponent(d.name)}/trigger`, {});
            say([`Triggered ${d.name}: run `, runLink(r.run_id)]);
          }), { class: 'btn small', 'data-name': d.name }), ' ',
          d.paused
            ? actionButton('Resume', 'resume-definition', b => this.toggle(b, d.name, 'resume'), { class: 'btn small', 'data-name': d.name })
            : actionButton('Pause', 'pause-definition', b => this.toggle(b, d.name, 'pause'), { class: 'btn small', 'data-name': d.name })));
    }
    toggle(btn, name, verb) {
      return act(btn, async () => {
        const r = await post(`api/definitions/${encodeURIComponent(name)}/${verb}`, {});
        say(`${name} ${r.paused ? 'paused' : 'resumed'}`);
      });
    }
  }

  /* ----------------------------- Workers ---------------------------- */

  class WorkersView extends View {
    mount() {
      this.title = 'Workers';
      this.pool = el('dl', { class: 'fields', 'data-testid': 'pool' });
      this.table = workerTable(true);
      add(this.root, el('div', { class: 'grid2' },
        section('Workers', 'workers', this.table.node),
        section('Pool', 'pool-section', this.pool)));
    }
    async load() {
      const d = await get('api/workers');
      if (!this.alive) return;
      this.table.update(d.workers || []);
      const p = d.pool || {};
      this.pool.replaceChildren(...Object.keys(p).flatMap(k => [el('dt', null, k), fieldValue(k, p[k])]));
    }
    onEvent(ev) { if (ev.type === 'worker' || ev.type === 'run' || ev.type === 'runs') this.stale(); }
  }

  class MissingView extends View {
    mount() {
      this.title = 'Not found';
      add(this.root, el('div', { class: 'errbox' }, 'No such page. ', el('a', { href: '#/' }, 'Back to the overview')));
    }
  }

  /* ------------------------------------------------------------------ */
  /* Routing: #/page/arg?filters                                         */
  /* ------------------------------------------------------------------ */

  function parseHash() {
    const h = location.hash.replace(/^#\/?/, '');
    const qi = h.indexOf('?');
    const parts = (qi < 0 ? h : h.slice(0, qi)).split('/').filter(Boolean).map(x => {
      try { return decodeURIComponent(x); } catch (e) { return x; }
    });
    return { page: parts[0] || 'overview', arg: parts[1], params: new URLSearchParams(qi < 0 ? '' : h.slice(qi + 1)) };
  }

  const VIEWS = { overview: OverviewView, runs: RunsView, queues: QueuesView, definitions: DefinitionsView, workers: WorkersView, run: RunView };

  function route() {
    const r = parseHash();
    let V = VIEWS[r.page] || MissingView;
    if (r.page === 'run' && !/^\d+$/.test(r.arg || '')) V = MissingView;
    if (view && view.route.page !== r.page) clearMessage();
    if (view) view.destroy();
    view = new V(r);
    view.mount();
    main.replaceChildren(view.root);
    document.title = `${view.title} · zapjobs`;
    for (const a of document.querySelectorAll('#nav a')) {
      const here = a.getAttribute('data-page') === (r.page === 'run' ? 'runs' : r.page);
      if (here) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    view.reload();
  }

  /* ------------------------------------------------------------------ */
  /* The event stream                                                   */
  /* ------------------------------------------------------------------ */

  let retryDelay = 1000;
  function connect() {
    const es = new EventSource('events');
    es.onopen = () => {
      retryDelay = 1000;
      setLive(true);
      if (view) view.reload();   /* events may have been missed while closed */
    };
    es.onerror = () => {
      setLive(false);
      /* EventSource retries by itself unless the server refused the stream */
      if (es.readyState === EventSource.CLOSED) {
        setTimeout(connect, retryDelay);
        retryDelay = Math.min(30000, retryDelay * 2);
      }
    };
    es.onmessage = m => {
      let ev;
      try { ev = JSON.parse(m.data); } catch (e) { return; }
      if (ev && view) view.onEvent(ev);
    };
    es.addEventListener('resync', () => { if (view) view.reload(); });
    es.addEventListener('counts', () => { if (view) view.onCounts(); });
  }

  function setLive(open) {
    liveEl.setAttribute('data-state', open ? 'open' : 'closed');
    liveEl.textContent = open ? 'live' : 'offline';
    liveEl.title = open ? 'Connected to the event stream' : 'Not connected to the event stream: reconnecting';
  }

  async function boot() {
    try {
      await loadSession();
    } catch (e) {
      say(`Cannot read the session (${e.message}): actions are disabled.`, 'error');
    }
    window.addEventListener('hashchange', route);
    route();
    connect();
  }

  boot();
})();
