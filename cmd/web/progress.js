/*
 * Progress bars and the figures behind them: percent, time left, progress
 * events merged into what a page shows.
 */
import { el, cls } from './dom.js';
import { round1 } from './format.js';

/* A bar whose element carries data-percent; set(null) is "unknown". */
export function progressBar(attrs) {
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
export function percentOf(p) {
  if (p.status === 'completed') return 100;
  if (p.percent != null) return +p.percent;
  if (p.total > 0 && p.current != null) return Math.min(100, 100 * p.current / p.total);
  return null;
}

/* Time left as jobs.active computes it: elapsed * (total - current) / current. */
export function etaOf(p) {
  if (p.status !== 'running') return null;
  if (p.total > 0 && p.current >= p.total) return 0;
  const at = Date.parse(p.at), start = Date.parse(p.started_at);
  if (p.total > 0 && p.current > 0 && !isNaN(at) && !isNaN(start)) return (at - start) / 1000 * (p.total - p.current) / p.current;
  return p.eta != null ? p.eta : null;
}

/* A progress event merged into what a page holds (null fields: unchanged). */
export function mergeProgress(p, ev) {
  for (const k of ['current', 'total', 'processed', 'succeeded', 'failed', 'message', 'at'])
    if (ev[k] != null) p[k] = ev[k];
  p.percent = ev.percent != null ? ev.percent : null;   /* null: computed from current/total */
  if (['waiting', 'scheduled', 'pending', 'awaiting_retry'].includes(p.status)) p.status = 'running';   /* it started */
  return p;
}

export function percentText(p) {
  const pct = percentOf(p);
  return pct == null ? (p.status === 'running' ? '…' : '') : round1(pct) + '%';
}
