// What every browser test file of zapjobs web shares: the "ok - ..." lines
// test/t/028_web_browser.pl turns into TAP, psql, waiting on a condition
// with a deadline.
'use strict';

const { execFileSync } = require('child_process');

let failures = 0;
/* stopped (a timeout of 028): exit, which ends the browser */
process.on('SIGTERM', () => process.exit(143));

function check(ok, what, detail) {
  console.log(`${ok ? 'ok' : 'not ok'} - ${what}${ok || !detail ? '' : ': ' + detail}`);
  if (!ok) failures++;
  return ok;
}

function failed() { return failures; }

// One SQL command through psql (PGHOST, PGPORT, PGDATABASE from the
// environment), as the environment's role or as user; its output, trimmed.
function psql(sql, user) {
  const args = ['-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', sql];
  if (user) args.unshift('-U', user);
  try {
    return execFileSync('psql', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    throw new Error(`psql failed: ${(e.stderr || e.message).trim()}\n${sql}`);
  }
}

// Wait for cond() (sync or async) to be truthy, at most ms; returns its value.
async function until(cond, ms = 30000) {
  const end = Date.now() + ms;
  let v;
  while (!(v = await cond()) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  return v;
}

// The status of run id, as the superuser sees it.
function statusOf(id) { return psql(`SELECT status FROM jobs.runs WHERE id = ${id}`); }

module.exports = { check, failed, psql, until, statusOf };
