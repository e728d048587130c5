/*
 * The page of one run: its fields, progress, attempts, dependencies, input
 * and output, and its log tailed live.
 */
import { el, add, cls, badge, td, table, emptyRow, section } from './dom.js';
import { num, pad, round1, toDate, fmtFull, fmtDur, timeCell, ageEl, runLink, fieldValue } from './format.js';
import { S, get, post, say } from './api.js';
import { requestFlush } from './live.js';
import { View, act, actionButton, bulkResult } from './view.js';
import { progressBar, percentOf, etaOf, mergeProgress } from './progress.js';

const CANCELLABLE = ['waiting', 'scheduled', 'pending', 'running', 'awaiting_retry'];
const RETRYABLE = ['failed', 'cancelled'];
const MAX_LOG_LINES = 5000;   /* older lines leave the page, not the database */

/* The order of the run's fields; any others follow alphabetically. */
const FIELD_ORDER = ['id', 'name', 'status', 'kind', 'queue', 'priority', 'owner', 'attempt', 'max_attempts',
  'created_at', 'run_at', 'started_at', 'finished_at', 'duration', 'elapsed', 'eta', 'percent', 'timeout',
  'retry_base', 'retry_factor', 'retry_max_delay', 'next_retry_at', 'dedupe_key', 'cancel_requested', 'crashes',
  'worker_pid', 'worker_epoch', 'shell_pgid', 'search_path', 'progress_current', 'progress_total',
  'progress_message', 'progress_at', 'items_processed', 'items_succeeded', 'items_failed',
  'error_sqlstate', 'error_message', 'error_detail', 'error_hint', 'error_context',
  'workflow', 'waiting_for', 'on_parent_failure', 'cancelled_by', 'has_dependents'];
const SHOWN_APART = ['command', 'input', 'output', 'live'];

export class RunView extends View {
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
