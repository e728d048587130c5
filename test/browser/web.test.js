// Browser tests of zapjobs web, in Debian's chromium driven by puppeteer-core.
//
//   node web.test.js DASHBOARD_URL APP_PORT SCREENSHOT_DIR WEB_PORT
//
// The dashboard must run with --allow-origin http://127.0.0.1:APP_PORT; this
// script serves a separate "app" page there that embeds the indicator.  On
// WEB_PORT, a free port, it starts (and stops, and starts again) a zapjobs
// web of its own.  It talks to the database with psql (PGHOST, PGPORT,
// PGDATABASE from the environment) to start and inspect jobs; the role
// sharer must exist.  Output: one "ok - ..." or "not ok - ..." line per
// check (test/t/028_web_browser.pl turns them into TAP); the exit code is 0
// when every check passed.  live.js and runs.js hold more of the checks.
'use strict';

const http = require('http');
const path = require('path');
const puppeteer = require('puppeteer-core');
const { check, failed, psql, until } = require('./common');
const { reconnect, coalescing, chattyRun } = require('./live');
const { bulkActions, shareableUrls } = require('./runs');

const [base, appPort, shots, webPort] = process.argv.slice(2);

// A job that reports progress and logs until the flag is set.
function slowJob(flag, name) {
  return psql(`SELECT jobs.enqueue($j$SELECT public.slow('${flag}')$j$, name => '${name}')`);
}

async function percentOf(page, selector) {
  return page.$eval(selector, (e) => Number(e.getAttribute('data-percent'))).catch(() => NaN);
}

async function overview(page) {
  await page.goto(`${base}/`, { waitUntil: 'load' });
  const counts = await until(() => page.$('[data-testid="counts"]'));
  check(!!counts, 'the overview loads with its counts');
  const live = await until(() => page.$('[data-testid="live"][data-state="open"]'));
  check(!!live, 'the event stream is open');
  for (const part of ['throughput', 'queues', 'failures', 'workers'])
    check(!!(await page.$(`[data-testid="${part}"]`)), `the overview shows ${part}`);
  await page.screenshot({ path: path.join(shots, 'overview.png') });
}

async function liveRun(page) {
  const id = slowJob('stop_live', 'browser_live');
  await page.goto(`${base}/#/run/${id}`, { waitUntil: 'load' });
  const first = await until(async () => {
    const p = await percentOf(page, '[data-testid="progress-bar"]');
    return p > 0 ? p : 0;
  });
  check(first > 0, 'the running job shows a progress bar', `percent ${first}`);
  const later = await until(async () => {
    const p = await percentOf(page, '[data-testid="progress-bar"]');
    return p > first ? p : 0;
  });
  check(later > first, 'the bar moves without a reload', `${first} -> ${later}`);
  const lines = await page.$$eval('[data-testid="log-line"]', (l) => l.length);
  const more = await until(async () => {
    const n = await page.$$eval('[data-testid="log-line"]', (l) => l.length);
    return n > lines ? n : 0;
  });
  check(more > lines, 'a log line appears without a reload', `${lines} -> ${more}`);
  await page.screenshot({ path: path.join(shots, 'run.png') });
  return id;
}

async function dependencies(page) {
  psql(`SELECT jobs.pause_queue('browser_hold')`);
  const parent = psql(`SELECT jobs.enqueue('SELECT 1', queue => 'browser_hold', workflow => 'browser_wf')`);
  const child = psql(`SELECT jobs.enqueue('SELECT 2', depends_on => ARRAY[${parent}])`);
  await page.goto(`${base}/#/run/${child}`, { waitUntil: 'load' });
  const row = await until(async () => {
    const rows = await page.$$eval('[data-testid="dependency-row"]', (l) => l.map((r) => r.textContent));
    return rows.find((t) => t.includes('#' + parent)) || null;
  });
  check(!!row && row.includes('waits for'), 'a waiting run links the run it waits for', row);
  const waiting = await until(async () =>
    (await page.$eval('[data-testid="run-status"]', (e) => e.textContent).catch(() => '')).includes('waiting'));
  check(waiting, 'and shows it waiting');
  psql(`SELECT jobs.resume_queue('browser_hold')`);
  const done = await until(async () =>
    (await page.$eval('[data-testid="run-status"]', (e) => e.textContent).catch(() => '')).includes('completed'));
  check(done, 'it turns completed without a reload once its parent completed');
}

async function cancelFromUi(page, id) {
  page.once('dialog', (d) => d.accept());
  await page.click('[data-testid="cancel-run"]');
  const status = await until(() => psql(`SELECT status FROM jobs.runs WHERE id = ${id}`) === 'cancelled');
  check(status, 'cancelling from the page ends the run cancelled');
  const shown = await until(async () =>
    (await page.$eval('[data-testid="run-status"]', (e) => e.textContent).catch(() => '')).includes('cancelled'));
  check(shown, 'and the page shows it');
}

async function hostile(page) {
  const name = '<img src=x onerror=window.__xss=1>';
  const message = '</script><b id=bold>bold</b>';
  const line = '<script>window.__xss=2</script><iframe src=javascript:1>';
  const id = psql(`SELECT jobs.enqueue($j$SELECT jobs.progress(1, 2, $m$${message}$m$);
                   SELECT jobs.log('info', $l$${line}$l$)$j$, name => $n$${name}$n$)`);
  await until(() => psql(`SELECT status FROM jobs.runs WHERE id = ${id}`) === 'completed');
  await page.goto(`${base}/#/run/${id}`, { waitUntil: 'load' });
  await until(() => page.$('[data-testid="log-line"]'));
  const text = await page.evaluate(() => document.body.textContent);
  check(text.includes(name), 'a hostile job name shows literally');
  check(text.includes(line), 'a hostile log line shows literally');
  const dom = await page.evaluate(() => ({
    xss: window.__xss,
    img: document.querySelectorAll('img[src="x"]').length,
    bold: document.querySelectorAll('#bold').length,
    iframe: document.querySelectorAll('iframe').length,
  }));
  check(dom.xss === undefined && dom.img === 0 && dom.bold === 0 && dom.iframe === 0,
    'none of it became markup or ran', JSON.stringify(dom));
  await page.goto(`${base}/#/runs`, { waitUntil: 'load' });
  await until(() => page.$('[data-testid="run-row"]'));
  const listed = await page.evaluate(() => ({ text: document.body.textContent, xss: window.__xss }));
  check(listed.text.includes(name) && listed.xss === undefined, 'nor in the runs list');
}

// A running job whose progress message, pushed by the event stream after the
// page opened, is markup: the live message shows it as text.
async function hostileLive(page) {
  const message = '<img src=x onerror=window.__xss=3><b id=bold>live</b>';
  const id = psql(`SELECT jobs.enqueue($j$SELECT public.wait_flag('hostile_go');
                   SELECT jobs.progress(1, 4, $m$${message}$m$);
                   SELECT public.wait_flag('hostile_stop')$j$, name => 'hostile_live')`);
  await until(() => psql(`SELECT status FROM jobs.runs WHERE id = ${id}`) === 'running');
  await page.goto(`${base}/#/run/${id}`, { waitUntil: 'load' });
  const before = await until(async () => {
    const st = await page.$eval('[data-testid="run-status"]', (e) => e.textContent).catch(() => '');
    return st.includes('running') ? { message: await page.$eval('[data-testid="progress-message"]', (e) => e.textContent) } : null;
  });
  check(before && before.message === '', 'a running job without progress yet is shown', JSON.stringify(before));
  psql(`INSERT INTO public.flags VALUES ('hostile_go')`);
  const shown = await until(async () => {
    const t = await page.$eval('[data-testid="progress-message"]', (e) => e.textContent).catch(() => '');
    return t === message ? t : null;
  });
  check(shown === message, 'a hostile progress message pushed live shows literally under the bar', shown);
  const bar = await percentOf(page, '[data-testid="progress-bar"]');
  check(bar === 25, 'with its percent on the bar', `percent ${bar}`);
  const dom = await page.evaluate(() => ({
    xss: window.__xss,
    img: document.querySelectorAll('img[src="x"]').length,
    bold: document.querySelectorAll('#bold').length,
    visible: (() => {
      const m = document.querySelector('[data-testid="progress-message"]');
      return !!m && m.getClientRects().length > 0 && getComputedStyle(m).visibility !== 'hidden';
    })(),
  }));
  check(dom.visible && dom.xss === undefined && dom.img === 0 && dom.bold === 0,
    'the message is visible, and none of it became markup or ran', JSON.stringify(dom));
  psql(`INSERT INTO public.flags VALUES ('hostile_stop')`);
}

// A failure whose name and error are markup, in the overview's recent failures.
async function hostileFailure(page) {
  const name = '<img src=x onerror=window.__xss=4>';
  const error = '<b id=bold>failed</b><script>window.__xss=5</script>';
  const id = psql(`SELECT jobs.enqueue($j$DO $d$BEGIN RAISE EXCEPTION '%', $e$${error}$e$; END $d$$j$,
                   name => $n$${name}$n$, max_attempts => 1)`);
  await until(() => psql(`SELECT status FROM jobs.runs WHERE id = ${id}`) === 'failed');
  await page.goto(`${base}/#/`, { waitUntil: 'load' });
  const row = await until(() => page.$(`[data-testid="failure-row"][data-run-id="${id}"]`));
  check(!!row, 'the overview lists the hostile failure');
  const shown = row ? await row.evaluate((r) => ({
    text: r.textContent,
    visible: r.getClientRects().length > 0,
    elements: r.querySelectorAll('img, b, script').length,
  })) : {};
  check(!!shown.text && shown.text.includes(name) && shown.text.includes(error) && shown.visible,
    'its name and error show literally in the recent failures', JSON.stringify(shown));
  const dom = await page.evaluate(() => ({ xss: window.__xss, img: document.querySelectorAll('img[src="x"]').length,
    bold: document.querySelectorAll('#bold').length }));
  check(shown.elements === 0 && dom.xss === undefined && dom.img === 0 && dom.bold === 0,
    'and none of it became markup or ran', JSON.stringify(dom));
}

// The overview's counts come from a count taken every few seconds: a run
// cancelled leaves them once they caught up, though no event follows.
async function overviewCounts(page) {
  psql(`SELECT jobs.pause_queue('count_q')`);
  const id = psql(`SELECT jobs.enqueue('SELECT 1', queue => 'count_q')`);
  await page.goto(`${base}/#/`, { waitUntil: 'load' });
  const pending = () => page.$eval('[data-testid="counts"] [data-status="pending"] .n', (e) => e.textContent).catch(() => '');
  check(await until(async () => (await pending()) === '1'), 'the overview counts a pending run', await pending());
  psql(`SELECT jobs.cancel(${id})`);
  check(await until(async () => (await pending()) === '0'), 'cancelled, it leaves the count without a reload',
    await pending());
  psql(`SELECT jobs.resume_queue('count_q')`);
}

// The "app": another origin whose page embeds the indicator.
function serveApp() {
  const page = `<!doctype html><html><head><title>some app</title></head>
<body><h1>Some app</h1><script src="${base}/indicator.js"></script></body></html>`;
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page);
  });
  return new Promise((resolve) => server.listen(Number(appPort), '127.0.0.1', () => resolve(server)));
}

// The indicator's dot, its state and its failure chip.
function indicatorLook(page) {
  return page.evaluate(() => {
    const root = document.querySelector('zapjobs-status').shadowRoot;
    const chip = root.querySelector('.chip');
    return { state: root.querySelector('[data-testid="indicator-state"]').textContent,
      dot: getComputedStyle(root.querySelector('.dot')).backgroundColor, chip: chip.hidden ? null : chip.textContent };
  });
}

// A run fails after the last ten to finish completed: the indicator turns
// red and says "error".
async function indicatorFailure(page) {
  const calm = await indicatorLook(page);
  check(calm.dot === 'rgb(31, 157, 85)' && calm.chip === null, 'with no failure among the last runs its dot is green',
    JSON.stringify(calm));
  const bad = psql(`SELECT jobs.enqueue('SELECT 1 / 0', name => 'indicator_fails', max_attempts => 1)`);
  const red = await until(async () => {
    const l = await indicatorLook(page);
    return l.state === 'error' && l.dot === 'rgb(214, 69, 69)' ? l : null;
  });
  check(!!red, 'a run fails: the indicator turns red and says "error"', JSON.stringify(await indicatorLook(page)));
  const after = red || await indicatorLook(page);
  check(after.chip === '1 failed', 'and counts the failure', JSON.stringify(after));
  check(psql(`SELECT status FROM jobs.runs WHERE id = ${bad}`) === 'failed', 'the run did fail');
}

async function indicator(browser) {
  psql(`SELECT jobs.enqueue('SELECT 1', name => 'indicator_calm') FROM generate_series(1, 10)`);
  await until(() => psql(`SELECT count(*) FROM jobs.runs WHERE name = 'indicator_calm' AND status <> 'completed'`) === '0');
  const server = await serveApp();
  const page = await browser.newPage();
  await page.setViewport({ width: 1000, height: 700 });
  const id = slowJob('stop_indicator', 'indicator_job');
  await page.goto(`http://127.0.0.1:${appPort}/`, { waitUntil: 'load' });
  const inShadow = (sel) => page.evaluate((s) => {
    const host = document.querySelector('zapjobs-status');
    const el = host && host.shadowRoot && host.shadowRoot.querySelector(s);
    return el ? { text: el.textContent.trim(), percent: el.getAttribute('data-percent'),
      hidden: el.hidden || getComputedStyle(el).display === 'none' } : null;
  }, sel);
  const count = await until(async () => {
    const c = await inShadow('[data-testid="indicator-count"]');
    return c && Number(c.text) >= 1 ? c : null;
  });
  check(!!count, 'the indicator on another origin counts the running job', JSON.stringify(count));
  const state = await inShadow('[data-testid="indicator-state"]');
  check(state && state.text === 'in progress', 'its state is "in progress"', JSON.stringify(state));
  const bar = await until(async () => {
    const b = await inShadow('[data-testid="indicator-bar"]');
    return b && Number(b.percent) > 0 ? b : null;
  });
  check(!!bar, 'its bar shows progress', JSON.stringify(bar));
  await page.evaluate(() => {
    const host = document.querySelector('zapjobs-status');
    (host.shadowRoot.querySelector('[data-testid="indicator-count"]') || host).click();
  });
  const run = await until(async () => {
    const p = await inShadow('[data-testid="indicator-panel"]');
    const r = await inShadow('[data-testid="indicator-run"]');
    return p && !p.hidden && r ? r : null;
  });
  check(!!run && run.text.includes('indicator_job'), 'a click opens the panel with the running job',
    JSON.stringify(run));
  await page.screenshot({ path: path.join(shots, 'indicator.png') });
  psql(`INSERT INTO public.flags VALUES ('stop_indicator')`);
  const done = await until(async () => {
    const s = await inShadow('[data-testid="indicator-state"]');
    return s && s.text === 'done';
  });
  check(done, 'when it completes the indicator says "done"');
  await indicatorFailure(page);
  await page.close();
  server.close();
  return id;
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await overview(page);
    const id = await liveRun(page);
    await cancelFromUi(page, id);
    await dependencies(page);
    await hostile(page);
    await hostileLive(page);
    await hostileFailure(page);
    await overviewCounts(page);
    await bulkActions(page, base);
    await shareableUrls(browser, page, base);
    await reconnect(browser, webPort);
    await coalescing(page, base);
    await chattyRun(page, base);
    check(errors.length === 0, 'no script error on the dashboard', errors.join('; '));
    await indicator(browser);
  } catch (e) {
    check(false, 'the browser tests ran to the end', e.stack);
  } finally {
    await browser.close();
  }
  process.exit(failed() ? 1 : 0);
})();
