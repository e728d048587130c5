/*
 * The Runs page: the runs list, filtered and paged by URL, its progress bars
 * moved by events, runs selected and cancelled or retried.
 */
import { el, add, badge, td, table, emptyRow } from './dom.js';
import { num, fmtDur, toDate, pad, timeCell, ageEl, runLink, nameText, runsHref, qs, plural } from './format.js';
import { S, get, post, say } from './api.js';
import { requestFlush } from './live.js';
import { View, act, actionButton, bulkResult } from './view.js';
import { progressBar, percentOf, mergeProgress, percentText } from './progress.js';

const STATUSES = ['waiting', 'scheduled', 'pending', 'running', 'awaiting_retry', 'completed', 'failed', 'cancelled'];
const FILTER_KEYS = ['status', 'queue', 'name', 'owner', 'q', 'from', 'to'];
const PAGE_SIZE = 50;         /* runs on a page of the runs list */

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

export class RunsView extends View {
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
