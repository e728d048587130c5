/*
 * The Workers page, and the worker table it shares with the overview.
 */
import { el, add, badge, td, table, keyedBody, section } from './dom.js';
import { num, timeCell, ageEl, runLink, fieldValue } from './format.js';
import { get } from './api.js';
import { View } from './view.js';

/* The workers table, short on the overview, full on the Workers page: {node, update(rows)}. */
export function workerTable(full) {
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

export class WorkersView extends View {
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
