// Browser tests of the dashboard's live updates (run by web.test.js):
// reconnecting after the server went away and reading afresh what changed
// meanwhile, and redrawing at most ten times a second under a flood of
// events while the page stays responsive.
'use strict';

const { spawn } = require('child_process');
const { check, psql, until, statusOf, startWeb } = require('./common');

// "id status,id status" of the rows of the runs list, top to bottom.
function rowsOf(page) {
  return page.$$eval('[data-testid="run-row"]', (rs) =>
    rs.map((r) => `${r.getAttribute('data-run-id')} ${r.getAttribute('data-status')}`).join(',')).catch(() => '');
}

const liveState = (page) => page.$eval('[data-testid="live"]', (e) => e.getAttribute('data-state')).catch(() => null);

// The log lines a run page shows: {n, first, last} (their messages).
const logOf = (page) => page.evaluate(() => {
  const m = [...document.querySelectorAll('[data-testid="log-line"] .msg')].map((e) => e.textContent);
  return { n: m.length, first: m[0], last: m[m.length - 1] };
});

// A zapjobs web of this test's own is stopped and started again on the same
// port while the runs list and a run's page are open; what happened while it
// was down (a run logged 300 lines and completed, another was enqueued and
// completed) sends no event to anyone, so the pages can only show it by
// reading again when their streams reopen.
async function reconnect(browser, port) {
  let web = await startWeb(port);
  if (!check(!!web, 'a zapjobs web of the test\'s own started')) return;
  const held = psql(`SELECT jobs.enqueue($j$SELECT public.wait_flag('reconnect_go');
    SELECT jobs.log('info', 'line ' || i) FROM generate_series(1, 300) i$j$, name => 'reconnect')`);
  await until(() => statusOf(held) === 'running');
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/#/runs?name=reconnect`, { waitUntil: 'load' });
  const before = await until(async () => (await liveState(page)) === 'open' && (await rowsOf(page)) === `${held} running`);
  check(before, 'the runs list shows the running run, its stream open', await rowsOf(page));
  const runPage = await browser.newPage();
  await runPage.goto(`http://127.0.0.1:${port}/#/run/${held}`, { waitUntil: 'load' });
  const opened = await until(async () => (await liveState(runPage)) === 'open' &&
    (await runPage.$eval('[data-testid="run-status"]', (e) => e.textContent).catch(() => '')) === 'running');
  check(opened, 'and its page, with no log line yet');
  for (const p of [page, runPage]) await p.evaluate(() => { window.__sameDocument = true; });

  check(await web.stop(), 'zapjobs web stopped');
  const offline = await until(async () => (await liveState(page)) === 'closed');
  check(offline, 'the page says it is offline');
  psql(`INSERT INTO public.flags VALUES ('reconnect_go')`);
  const added = psql(`SELECT jobs.enqueue('SELECT 1', name => 'reconnect')`);
  const done = await until(() => statusOf(held) === 'completed' && statusOf(added) === 'completed');
  check(done, 'meanwhile the run completed and another was enqueued and completed');
  const stale = await rowsOf(page);
  check(stale === `${held} running`, 'the page, with no server, still shows what it had read', stale);

  web = await startWeb(port);
  if (!check(!!web, 'zapjobs web started again on the same port')) return;
  const want = `${added} completed,${held} completed`;
  const after = await until(async () => (await liveState(page)) === 'open' && (await rowsOf(page)) === want, 60000);
  check(after, 'once the stream reopened the list shows both runs completed, read afresh', await rowsOf(page));
  const log = await until(async () => {
    const l = await logOf(runPage);
    const st = await runPage.$eval('[data-testid="run-status"]', (e) => e.textContent).catch(() => '');
    return st === 'completed' && l.n === 300 ? l : null;
  });
  check(!!log && log.first === 'line 1' && log.last === 'line 300',
    'the run\'s page shows it completed, with every line it logged meanwhile', JSON.stringify(await logOf(runPage)));
  const same = await Promise.all([page, runPage].map((p) => p.evaluate(() => window.__sameDocument === true)));
  check(same.every(Boolean), 'without a reload of either page');
  await page.close();
  await runPage.close();
  await web.stop();
}

// Count, in the page, the frames in which the view changed (a
// MutationObserver notes a change, the next animation frame counts it: the
// browser paints at most once a frame), leaving out the clock that relabels
// ages once a second; every event the stream carries (a second EventSource
// of the page's own); and how late a 50 ms timer fires.
function instrument() {
  const m = window.__measure = { renders: [], events: 0, lag: 0 };
  let changed = false;
  new EventSource('events').onmessage = () => { m.events++; };
  new MutationObserver((records) => {
    changed = changed || records.some((r) => {
      const n = r.target.nodeType === Node.TEXT_NODE ? r.target.parentElement : r.target;
      return !(n && n.closest('[data-since]'));
    });
  }).observe(document.getElementById('main'), { subtree: true, childList: true, characterData: true, attributes: true });
  const frame = (t) => {
    if (changed) m.renders.push(t);
    changed = false;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    m.lag = Math.max(m.lag, now - last - 50);
    last = now;
  }, 50);
}

// The most of times in any window of ms.
function busiest(times, ms) {
  let most = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i] - times[j] >= ms) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

// psql as a child: ROUNDS rounds of 100 runs enqueued in a transaction each
// (every run an event of its own) then a 50 ms pause; the pool runs them
// at once, two more events each.  Resolves when psql exits.
function flood(rounds) {
  const round = `SELECT count(jobs.enqueue('SELECT 1', name => 'flood', queue => 'flood')) FROM generate_series(1, 100);
SELECT pg_sleep(0.05);
`;
  const p = spawn('psql', ['-XAtq', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null', '-f', '-'], { stdio: ['pipe', 'ignore', 'inherit'] });
  p.stdin.end(round.repeat(rounds));
  return new Promise((resolve) => p.on('exit', (code) => resolve(code)));
}

// Open url, wait for ready (a selector), let work() run (a promise of
// success), and measure: {secs, renders (frames in which the view changed),
// most (of them in any second), rate (events a second), slowest
// (page.evaluate round trip, ms), lag (of a 50 ms timer, ms)}.
async function measure(page, url, ready, work, what) {
  await page.goto(url, { waitUntil: 'load' });
  await until(async () => (await liveState(page)) === 'open' && page.$(ready));
  await page.evaluate(instrument);
  const t0 = await page.evaluate(() => performance.now());
  let running = true;
  const done = work().then((ok) => { running = false; return ok; });
  let slowest = 0;
  while (running) {
    const start = Date.now();
    await page.evaluate(() => document.querySelectorAll('[data-testid="run-row"]').length);
    slowest = Math.max(slowest, Date.now() - start);
    await new Promise((r) => setTimeout(r, 100));
  }
  const t1 = await page.evaluate(() => performance.now());
  check(await done, what);
  const { times, events, lag } = await page.evaluate((from, to) => ({
    times: window.__measure.renders.filter((t) => t >= from && t <= to),
    events: window.__measure.events, lag: window.__measure.lag,
  }), t0, t1);
  const secs = (t1 - t0) / 1000;
  return { secs, renders: times.length, most: busiest(times, 1000), rate: Math.round(events / secs),
    slowest, lag: Math.round(lag) };
}

// The checks of one flood, of at least rate events a second.  The page
// reads at most every 100 ms and draws what it read in one task, so any
// second holds at most 11 redraws; one more is allowed as frames (16 ms)
// round the times.
function judge(m, what, rate) {
  const stats = `${m.renders} redraws in ${m.secs.toFixed(1)} s, at most ${m.most} in a second; ${m.rate} events/s`;
  console.error(`coalescing, ${what}: ${stats}; slowest evaluate ${m.slowest} ms, timer lag ${m.lag} ms`);
  check(m.rate >= rate, `the events reached ${what} at ${rate} a second or more`, stats);
  check(m.most <= 12, `${what} redrew at most 10 times a second`, stats);
  check(m.renders >= m.secs, 'and kept redrawing while the events came', stats);
  check(m.slowest < 1000 && m.lag < 1000, 'the page stayed responsive',
    `slowest evaluate ${m.slowest} ms, timer lag ${m.lag} ms`);
}

const flooded = () => psql(`SELECT count(*) FROM jobs.runs WHERE queue = 'flood' AND status <> 'completed'`) === '0';
const LIST_READY = '[data-testid="runs"] td.empty, [data-testid="run-row"]';
const floodOf = (rounds) => () => flood(rounds).then((code) => code === 0);

// Thousands of events a second on two pages: the runs of the flooded queue,
// then the running runs, among them two jobs whose bars move by progress
// events; each redraws at most ten times a second and ends showing the
// last state.
async function coalescing(page, base) {
  judge(await measure(page, `${base}/#/runs?queue=flood`, LIST_READY, floodOf(160), 'a flood of runs was enqueued'),
    'the runs list', 1000);
  await until(flooded, 120000);
  const last = psql(`SELECT max(id) FROM jobs.runs WHERE queue = 'flood'`);
  const shown = await until(async () => (await rowsOf(page)).startsWith(`${last} completed,`));
  check(shown, 'after the flood the list shows its last run completed', (await rowsOf(page)).slice(0, 80));

  const reporters = [1, 2].map(() => psql(`SELECT jobs.enqueue($j$SELECT public.slow('stop_reporters')$j$, name => 'reporter')`));
  await until(() => reporters.every((id) => statusOf(id) === 'running'));
  /* their bars' percents, -1 for a bar not shown */
  const bars = () => page.$$eval('[data-testid="run-row"][data-status="running"]', (rs, ids) => ids.map((id) => {
    const r = rs.find((x) => x.getAttribute('data-run-id') === id);
    return r ? Number(r.querySelector('.bar').getAttribute('data-percent')) : -1;
  }), reporters);
  let start = null;
  const work = async () => {
    start = await until(async () => { const b = await bars(); return b.every((p) => p > 0) ? b : null; });
    return floodOf(160)();
  };
  const m = await measure(page, `${base}/#/runs?status=running`, LIST_READY, work, 'a second flood of runs was enqueued');
  const end = await bars();
  judge(m, 'the list of running runs, with moving bars', 1000);
  check(!!start && end.every((p, i) => p > start[i]), 'the bars of the running jobs moved meanwhile', `${start} -> ${end}`);
  psql(`INSERT INTO public.flags VALUES ('stop_reporters')`);
  await until(flooded, 120000);
  const empty = await until(async () => reporters.every((id) => statusOf(id) === 'completed') && (await rowsOf(page)) === '');
  check(empty, 'when they completed the list of running runs is empty', await rowsOf(page));
}

// A run that reports progress and logs a line a thousand times, as fast as
// the worker lets it: its page tails the log and moves the bar, redrawing
// at most ten times a second, and ends with every line and 100%.
async function chattyRun(page, base) {
  const id = psql(`SELECT jobs.enqueue($j$SELECT public.wait_flag('chatty_go');
    DO $d$ BEGIN FOR i IN 1..1000 LOOP
      PERFORM jobs.progress(i, 1000); PERFORM jobs.log('info', 'line ' || i); PERFORM pg_sleep(0.004);
    END LOOP; END $d$$j$, name => 'chatty')`);
  await until(() => statusOf(id) === 'running');
  const work = async () => {
    psql(`INSERT INTO public.flags VALUES ('chatty_go')`);
    return until(() => statusOf(id) === 'completed', 60000);
  };
  const m = await measure(page, `${base}/#/run/${id}`, '[data-testid="run-status"]', work, 'a run logged 1000 lines');
  judge(m, 'the page of a run logging', 100);
  const end = await until(() => page.evaluate(() => {
    const lines = document.querySelectorAll('[data-testid="log-line"]');
    return lines.length === 1000 && lines[999].textContent.endsWith('line 1000') &&
      document.querySelector('[data-testid="progress-bar"]').getAttribute('data-percent') === '100';
  }));
  check(end, 'it shows every line, the last one last, and 100%');
}

module.exports = { reconnect, coalescing, chattyRun };
