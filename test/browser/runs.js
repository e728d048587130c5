// Browser tests of the runs list (run by web.test.js): selecting runs and
// cancelling or retrying them (several, or every run matching a filter,
// pages beyond the one shown included).
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

module.exports = { bulkActions };
