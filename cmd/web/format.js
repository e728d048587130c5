/*
 * Numbers, times and durations as the dashboard shows them; the elements
 * that carry them (times, ages kept current, run links, a run's fields); the
 * runs list's URLs.
 */
import { el } from './dom.js';

const main = document.getElementById('main');

/* The server's clock minus ours (ms), set by the overview: ages count on the server's time. */
export const clock = { skew: 0 };

const NF = new Intl.NumberFormat('en-US');
export function num(n) { return n == null ? '—' : NF.format(n); }
export function pad(n, w) { return String(n).padStart(w || 2, '0'); }
export function round1(x) { return Math.round(x * 10) / 10; }

export function toDate(s) { if (!s) return null; const d = new Date(s); return isNaN(d) ? null : d; }

export function fmtFull(s) {
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

export function fmtDur(sec) {
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

export function timeCell(s) { return el('time', { datetime: s || null, title: s ? fmtFull(s) : null }, fmtShort(s)); }

/* An age that the clock below keeps current ("3m 05s ago"); never fetches. */
export function ageEl(s, suffix) {
  if (!s) return el('span', { class: 'muted' }, '—');
  const e = el('span', { 'data-since': s, 'data-suffix': suffix || '', title: fmtFull(s) });
  e.textContent = ageText(e);
  return e;
}
function ageText(e) {
  return fmtDur((Date.now() + clock.skew - Date.parse(e.getAttribute('data-since'))) / 1000) + e.getAttribute('data-suffix');
}
/* Re-labels relative times once a second; data only changes by events. */
setInterval(() => {
  if (document.hidden) return;
  for (const e of main.querySelectorAll('[data-since]')) e.textContent = ageText(e);
}, 1000);

export function runLink(id) { return id == null ? el('span', { class: 'muted' }, '—') : el('a', { href: '#/run/' + encodeURIComponent(id) }, '#' + id); }

export function nameText(name) { return name == null || name === '' ? el('span', { class: 'nameless' }, 'unnamed') : name; }

export function runsHref(filter) { const q = qs(filter); return '#/runs' + (q ? '?' + q : ''); }

export function qs(obj) {
  const p = new URLSearchParams();
  for (const k in obj) if (obj[k] != null && obj[k] !== '') p.set(k, obj[k]);
  return p.toString();
}

export function plural(n, word) { return `${num(n)} ${word}${n === 1 ? '' : 's'}`; }

/* One field of a run, formatted by its kind; always as text. */
export function fieldValue(k, v) {
  if (v == null) return el('dd', { class: 'null' }, 'null');
  if (typeof v === 'boolean') return el('dd', null, v ? 'true' : 'false');
  if (typeof v === 'object') return el('dd', { class: 'mono' }, JSON.stringify(v, null, 2));
  if (/_at$/.test(k)) return el('dd', { title: String(v) }, fmtFull(v));
  if (k === 'eta' || k === 'elapsed') return el('dd', { title: v + ' s' }, fmtDur(v));
  if (k === 'duration' && typeof v === 'number') return el('dd', null, fmtDur(v));
  if (typeof v === 'number' && !/(^id$|_id$|pid$|epoch$|pgid$)/.test(k)) return el('dd', null, num(v));
  return el('dd', null, String(v));
}
