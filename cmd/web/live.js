/*
 * The live side: the event stream, and the flush that turns its events into
 * redraws.
 *
 * A view loads its data from the JSON API and then listens to the event
 * stream: progress events are kept for the next redraw, other events only
 * mark the view stale, and one flush at most every 100 ms re-fetches, one
 * request at a time, so thousands of events a second cost at most 10
 * fetches and 10 redraws a second.
 */
const liveEl = document.getElementById('live');
const FLUSH_MS = 100;         /* at most 10 renders/re-fetches a second */

/* The page shown: events go to it, flushes redraw it (the router sets it). */
let view = null;
export function currentView() { return view; }
export function setView(v) { view = v; }

/* The flush: at most one every FLUSH_MS, whatever asked for it. */
let flushTimer = 0;
let lastFlush = 0;
/* While a pointer button is down (at most 1 s) nothing is redrawn: a click
   needs the same element under mousedown and mouseup, and a redraw in
   between would replace it and eat the click. */
let pointerDownAt = 0;
document.addEventListener('pointerdown', () => { pointerDownAt = performance.now(); }, true);
for (const t of ['pointerup', 'pointercancel']) document.addEventListener(t, () => { pointerDownAt = 0; }, true);

export function requestFlush() {
  if (flushTimer) return;
  flushTimer = setTimeout(runFlush, Math.max(0, lastFlush + FLUSH_MS - performance.now()));
}
function runFlush() {
  flushTimer = 0;
  if (pointerDownAt && performance.now() - pointerDownAt < 1000) { flushTimer = setTimeout(runFlush, 50); return; }
  lastFlush = performance.now();
  if (view) view.flush();
}

/* The event stream, reopened after a refusal with a growing delay. */
let retryDelay = 1000;
export function connect() {
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
