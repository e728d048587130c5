// Browser tests of the runs list (run by web.test.js): selecting runs and
// cancelling or retrying them (several, or every run matching a filter,
// pages beyond the one shown included), and filters and paging carried by
// the URL, so that the same URL opened elsewhere shows the same rows.
'use strict';

const { check, psql, until, statusOf } = require('./common');

const idsOf = (page) => page.$$eval('[data-testid="run-row"]', (rs) => rs.map((r) => r.getAttribute('data-run-id')));
const statusesOf = (ids) => psql(`SELECT string_agg(status, ',' ORDER BY id) FROM jobs.runs WHERE id IN (${ids.join(',')})`);
const sameAll = (ids, status) => statusesOf(ids) === ids.map(() => status).join(',');

// Open a runs list and wait until it shows n rows.
async function openList(page, base, query, n) {
  await page.goto(`${base}/#/runs?${query}`, { waitUntil: 'load' });
  return until(async () => (await idsOf(page)).length === n);
}

// Wait until the rows of ids show status on the page.
function shown(page, ids, status) {
  return until(() => page.$$eval('[data-testid="run-row"]', (rs, want, st) =>
    want.every((id) => rs.some((r) => r.getAttribute('data-run-id') === id && r.getAttribute('data-status') === st)), ids, status));
}

async function select(page, ids) {
  for (const id of ids) await page.click(`[data-testid="run-row"][data-run-id="${id}"] [data-testid="select-run"]`);
}

// Runs pending in a paused queue: three of five selected and cancelled.
async function cancelSelected(page, base) {
  const ids = psql(`SELECT string_agg(jobs.enqueue('SELECT 1', name => 'pick', queue => 'pick_q')::text, ',')
                    FROM generate_series(1, 5)`).split(',');
  check(await openList(page, base, 'name=pick', 5), 'the runs list shows five pending runs');
  const picked = [ids[0], ids[2], ids[4]];
  const kept = [ids[1], ids[3]];
  await select(page, picked);
  const info = await page.$eval('[data-testid="selection"]', (e) => e.textContent);
  check(info === '3 selected', 'three of them are selected', info);
  page.once('dialog', (d) => d.accept());
  await page.click('[data-testid="cancel-selected"]');
  check(await until(() => sameAll(picked, 'cancelled')), 'cancel: the three selected runs end cancelled', statusesOf(picked));
  check(sameAll(kept, 'pending'), 'the two others stay pending', statusesOf(kept));
  check(await shown(page, picked, 'cancelled'), 'and the list shows them cancelled');
  return kept;
}

// 60 runs match name=allm and queue=pick_q, more than a page (50);
// runs of the same name in another queue and of the same queue under
// another name do not match.
async function cancelAllMatching(page, base, others) {
  const matching = psql(`SELECT string_agg(jobs.enqueue('SELECT 1', name => 'allm', queue => 'pick_q')::text, ',')
                         FROM generate_series(1, 60)`).split(',');
  const elsewhere = psql(`SELECT string_agg(jobs.enqueue('SELECT 1', name => 'allm', queue => 'pick_q2')::text, ',')
                          FROM generate_series(1, 3)`).split(',');
  check(await openList(page, base, 'name=allm&queue=pick_q', 50), 'a filter matching 60 runs shows a page of 50');
  await page.click('[data-testid="select-all-matching"]');
  const info = await page.$eval('[data-testid="selection"]', (e) => e.textContent);
  check(info === 'All runs matching this filter', 'all runs matching it are selected', info);
  page.once('dialog', (d) => d.accept());
  await page.click('[data-testid="cancel-selected"]');
  check(await until(() => sameAll(matching, 'cancelled')), 'cancel: all 60 end cancelled, the 10 not shown too',
    psql(`SELECT count(*) FILTER (WHERE status = 'cancelled') FROM jobs.runs WHERE id IN (${matching})`));
  check(sameAll(elsewhere.concat(others), 'pending'), 'runs the filter does not match stay pending',
    statusesOf(elsewhere.concat(others)));
  const message = () => page.$eval('[data-testid="message"]', (e) => e.textContent).catch(() => '');
  check(await until(async () => (await message()) === '60 runs cancelled'), 'the page says how many', await message());
  psql(`SELECT jobs.cancel(id) FROM jobs.runs WHERE id IN (${elsewhere.concat(others)})`);
}

// Three failed runs, two of them selected and retried: they run again.
async function retrySelected(page, base) {
  const ids = psql(`SELECT string_agg(jobs.enqueue($j$SELECT 1 / (SELECT count(*)::int FROM public.flags
                      WHERE name = 'retry_fixed')$j$, name => 'retry_me', max_attempts => 1)::text, ',')
                    FROM generate_series(1, 3)`).split(',');
  check(await until(() => sameAll(ids, 'failed')), 'three runs failed', statusesOf(ids));
  check(await openList(page, base, 'name=retry_me&status=failed', 3), 'the list of failed runs shows them');
  const picked = [ids[0], ids[2]];
  psql(`INSERT INTO public.flags VALUES ('retry_fixed')`);
  await select(page, picked);
  await page.click('[data-testid="retry-selected"]');
  const again = () => psql(`SELECT string_agg(status || ' ' || attempt, ',' ORDER BY id) FROM jobs.runs WHERE id IN (${picked})`);
  check(await until(() => again() === 'completed 2,completed 2'), 'retry: the two selected run again and complete',
    again());
  check(statusOf(ids[1]) === 'failed', 'the other stays failed');
  const left = await until(async () => (await idsOf(page)).join(',') === ids[1]);
  check(left, 'the list of failed runs now shows it alone', (await idsOf(page)).join(','));
}

async function bulkActions(page, base) {
  psql(`SELECT jobs.pause_queue('pick_q'), jobs.pause_queue('pick_q2')`);
  try {
    const kept = await cancelSelected(page, base);
    await cancelAllMatching(page, base, kept);
  } finally {
    psql(`SELECT jobs.resume_queue('pick_q'), jobs.resume_queue('pick_q2')`);
  }
  await retrySelected(page, base);
}

// The filter form's values and the rows shown.
function listState(page) {
  return page.evaluate(() => {
    const f = {};
    for (const e of document.querySelectorAll('[data-testid="filters"] [name]')) f[e.name] = e.value;
    const ids = [...document.querySelectorAll('[data-testid="run-row"]')].map((r) => r.getAttribute('data-run-id'));
    return { filters: f, ids };
  });
}

// Local "YYYY-MM-DDTHH:MM" for a datetime-local input, minutes from now.
function localInput(minutes) {
  const d = new Date(Date.now() + minutes * 60000);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

async function fill(page, name, value) {
  await page.$eval(`[data-testid="filter-${name}"]`, (e, v) => { e.value = v; }, value);
}

// 120 completed runs of role sharer match every filter; decoys miss one each
// (owner, text, queue, status, created before or after the time range).
function shareData() {
  psql(`SELECT jobs.enqueue($j$SELECT 'needle'$j$, name => 'share', queue => 'share_q') FROM generate_series(1, 120)`, 'sharer');
  psql(`SELECT jobs.enqueue($j$SELECT 'needle'$j$, name => 'share', queue => 'share_q')`);
  psql(`SELECT jobs.enqueue($j$SELECT 'hay'$j$, name => 'share', queue => 'share_q')`, 'sharer');
  psql(`SELECT jobs.enqueue($j$SELECT 'needle'$j$, name => 'share', queue => 'share_q2')`, 'sharer');
  psql(`SELECT jobs.enqueue($j$SELECT 'needle' || 1 / 0$j$, name => 'share', queue => 'share_q', max_attempts => 1)`, 'sharer');
  const early = psql(`SELECT jobs.enqueue($j$SELECT 'needle'$j$, name => 'share', queue => 'share_q')`, 'sharer');
  const late = psql(`SELECT jobs.enqueue($j$SELECT 'needle'$j$, name => 'share', queue => 'share_q')`, 'sharer');
  return until(() => psql(`SELECT count(*) FROM jobs.runs WHERE name = 'share' AND status NOT IN ('completed', 'failed')`) === '0')
    .then(() => psql(`UPDATE jobs.runs SET created_at = created_at + CASE id WHEN ${early} THEN interval '-2 hours'
                      ELSE interval '2 hours' END WHERE id IN (${early}, ${late})`));
}

// Filters set in the form, then the next page: the URL says all of it, and
// a fresh page opened at that URL shows the same filters and the same rows.
async function shareableUrls(browser, page, base) {
  await shareData();
  await page.goto(`${base}/#/runs`, { waitUntil: 'load' });
  await until(() => page.$('[data-testid="run-row"]'));
  for (const [k, v] of [['queue', 'share_q'], ['name', 'share'], ['owner', 'sharer'], ['q', 'NEEDLE'],
    ['from', localInput(-60)], ['to', localInput(60)]]) await fill(page, k, v);
  await page.select('[data-testid="filter-status"]', 'completed');   /* a change of status applies the form */
  await until(() => /status=completed/.test(page.url()) && /owner=sharer/.test(page.url()));
  const want = psql(`SELECT string_agg(id::text, ',' ORDER BY id DESC) FROM jobs.runs WHERE owner::text = 'sharer'
                     AND status = 'completed' AND queue = 'share_q' AND command LIKE '%needle%'
                     AND created_at BETWEEN now() - interval '1 hour' AND now() + interval '1 hour'`).split(',');
  check(want.length === 120, 'the data: 120 runs match the filters', want.length);
  const first = await until(async () => (await idsOf(page)).join(',') === want.slice(0, 50).join(','));
  check(first, 'the filters show the first 50 of them', (await idsOf(page)).length);
  await page.click('[data-testid="more"]');
  const second = await until(async () => (await idsOf(page)).join(',') === want.slice(50, 100).join(','));
  check(second, 'the next page shows the next 50', (await idsOf(page)).join(','));
  const url = page.url();
  const hash = new URLSearchParams(url.split('?')[1] || '');
  const carried = ['status', 'queue', 'name', 'owner', 'q', 'from', 'to', 'before'].filter((k) => !hash.get(k));
  check(carried.length === 0, 'the URL carries every filter and the page', `missing ${carried} in ${url}`);
  const here = await listState(page);

  const ctx = await browser.createBrowserContext();   /* nothing shared with the first page */
  const fresh = await ctx.newPage();
  await fresh.goto(url, { waitUntil: 'load' });
  await until(async () => (await idsOf(fresh)).length > 0);
  const there = await listState(fresh);
  check(JSON.stringify(there.filters) === JSON.stringify(here.filters), 'opened elsewhere, the URL shows the same filters',
    `${JSON.stringify(there.filters)} vs ${JSON.stringify(here.filters)}`);
  check(there.ids.join(',') === here.ids.join(','), 'and the same rows', there.ids.join(','));
  await fresh.click('[data-testid="newest"]');
  const back = await until(async () => (await idsOf(fresh)).join(',') === want.slice(0, 50).join(','));
  check(back && !/before=/.test(fresh.url()) && /owner=sharer/.test(fresh.url()),
    'from there "Newest runs" goes back to the first page, same filters', fresh.url());
  await ctx.close();
}

module.exports = { bulkActions, shareableUrls };
