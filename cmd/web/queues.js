/*
 * The Queues page, and the queue table it shares with the overview.
 */
import { el, add, badge, td, table, keyedBody, section } from './dom.js';
import { num, ageEl, runsHref } from './format.js';
import { get, post, say } from './api.js';
import { View, act, actionButton } from './view.js';

/* The queue table, on the overview and (with actions) on the Queues page: {node, update(rows)}. */
export function queueTable(actions) {
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

export class QueuesView extends View {
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
