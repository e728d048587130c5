/*
 * The Overview page: runs by state, the last hour's throughput (an SVG
 * chart), queues, recent failures, workers.
 */
import { el, svg, add, badge, td, table, keyedBody, section } from './dom.js';
import { clock, num, pad, round1, toDate, timeCell, runLink, nameText, runsHref } from './format.js';
import { get } from './api.js';
import { View } from './view.js';
import { queueTable } from './queues.js';
import { workerTable } from './workers.js';

export class OverviewView extends View {
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
    if (d.now) clock.skew = Date.parse(d.now) - Date.now();
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
