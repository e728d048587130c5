// node progress-bar.js [run id]: a progress bar for job_update events.
const { Client } = require('pg');
const only = process.argv[2] ? Number(process.argv[2]) : null;
const client = new Client();  // PGHOST, PGPORT, PGDATABASE, PGUSER from the environment
const bar = (p) => '#'.repeat(Math.round(p / 2.5)).padEnd(40, '.');
client.on('notification', (msg) => {
  const ev = JSON.parse(msg.payload);
  if (only !== null && ev.id !== only) return;
  if (ev.type === 'progress') {
    const pct = ev.percent ?? 0;
    process.stdout.write(`\r${ev.name ?? ev.id} [${bar(pct)}] ${pct.toFixed(1)}% ${ev.message ?? ''}   `);
  } else if (ev.type === 'log') {
    process.stdout.write(`\n  ${ev.level}: ${ev.message ?? ''}\n`);
  } else if (ev.type === 'run' && ['completed', 'failed', 'cancelled'].includes(ev.status)) {
    process.stdout.write(`\n${ev.name ?? ev.id}: ${ev.status}\n`);
    if (only !== null) client.end();
  }
});
client.connect().then(() => client.query('LISTEN job_update'));
