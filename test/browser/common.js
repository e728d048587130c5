// What every browser test file of zapjobs web shares: the "ok - ..." lines
// test/t/028_web_browser.pl turns into TAP, psql, waiting on a condition
// with a deadline, and a zapjobs web of the test's own (to stop and start).
'use strict';

const { execFileSync, spawn } = require('child_process');

let failures = 0;
const children = new Set();   /* our zapjobs web processes, ended with us */
process.on('exit', () => { for (const c of children) c.kill('SIGTERM'); });
/* stopped (a timeout of 028): exit, which ends the browser and our zapjobs web */
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

// Start `zapjobs web --listen 127.0.0.1:PORT` (the zapjobs on PATH, the
// connection from the environment); resolves once it listens, to
// {stop()} (SIGTERM, resolving once it exited), or null if it did not.
async function startWeb(port) {
  const child = spawn('zapjobs', ['web', '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  let exited = false;
  children.add(child);
  child.stderr.on('data', (d) => { err += d; });
  const gone = new Promise((resolve) => child.on('exit', () => { exited = true; children.delete(child); resolve(); }));
  const up = await until(() => exited || /zapjobs web: http/.test(err), 30000);
  if (!up || exited) {
    child.kill('SIGTERM');
    console.error(`zapjobs web on port ${port} did not start: ${err}`);
    return null;
  }
  return {
    stop: async () => {
      child.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 30000))]);
      return exited;
    },
  };
}

module.exports = { check, failed, psql, until, statusOf, startWeb };
