-- Schedules: cron parsing, errors with positions, jobs.next_run across
-- daylight-saving changes, leap years and day rules.
SET timezone = 'UTC';

-- Fields, lists, ranges, steps, names, macros.
SELECT jobs.next_run('*/15 * * * *', '2026-11-22 10:07:00+00');
SELECT jobs.next_run('5,35 8-10 * * *', '2026-11-22 10:36:00+00');
SELECT jobs.next_run('0 9 * * mon-fri', '2026-11-21 10:00+00');   -- a Saturday
SELECT jobs.next_run('0 12 * jan,jul sun', '2026-11-22 00:00+00');
SELECT jobs.next_run('0 0 * * 7', '2026-11-22 00:00+00');          -- 7 is Sunday
SELECT jobs.next_run('10/20 * * * *', '2026-11-22 00:11+00');      -- 10, 30, 50
SELECT jobs.next_run(m, '2026-11-22 10:07+00') FROM unnest(ARRAY['@hourly', '@daily',
  '@midnight', '@weekly', '@monthly', '@yearly', '@annually']) m;
-- Strictly after: a time that is due now is not "next".
SELECT jobs.next_run('0 * * * *', '2026-11-22 10:00:00+00');

-- Day of month and day of week: either, when both are restricted.
SELECT jobs.next_run('0 0 13 * 5', '2026-11-22 00:00+00');         -- Friday or the 13th
SELECT jobs.next_run('0 0 13 * *', '2026-11-22 00:00+00');
-- A day field starting with a star (steps too) is unrestricted: odd days that are Mondays.
SELECT jobs.next_run('0 0 */2 * 1', '2026-11-22 00:00+00');
-- Leap years; a date that never exists.
SELECT jobs.next_run('0 0 29 2 *', '2026-03-01 00:00+00');
SELECT jobs.next_run('0 0 29 2 *', '2028-02-29 00:00+00');
SELECT jobs.next_run('0 0 30 2 *', '2026-11-22 00:00+00') IS NULL AS never;
-- $ is the last day of the month (as in pg_cron), alone or in a list.
SELECT jobs.next_run('0 0 $ * *', '2026-02-10 00:00+00');
SELECT jobs.next_run('0 12 $ 2 *', '2027-03-01 00:00+00');         -- 2028 is a leap year
SELECT jobs.next_run('30 23 15,$ * *', '2026-04-16 00:00+00');
SELECT jobs.next_run('0 0 $ * *', '2026-12-31 00:00+00');          -- strictly after
-- @reboot has no time: it falls due once after each server start.
SELECT jobs.next_run('@reboot', '2026-11-22 00:00+00') IS NULL AS no_time_of_its_own;
SELECT jobs.schedule('at_boot', '@REBOOT', 'SELECT 1');
SELECT schedule, next_run_at IS NULL AS no_next FROM jobs.definitions WHERE name = 'at_boot';
SELECT jobs.unschedule('at_boot');

-- Time zones: local wall-clock times.
SELECT jobs.next_run('0 9 * * *', '2026-11-22 00:00+00', 'Europe/London');
SELECT jobs.next_run('0 9 * * *', '2026-07-01 00:00+00', 'Europe/London');
SELECT jobs.next_run('@daily', '2026-11-22 10:00+00', 'America/New_York');

-- New York, spring: 02:00 jumps to 03:00 on 2026-03-08; 02:30 fires once, at the jump.
SELECT jobs.next_run('30 2 * * *', '2026-03-07 12:00+00', 'America/New_York');
SELECT jobs.next_run('30 2 * * *', '2026-03-08 07:00+00', 'America/New_York');
-- ... every 15 minutes through the gap: 01:45, then 03:00 (once), 03:15.
SELECT jobs.next_run('*/15 * * * *', '2026-03-08 06:30+00', 'America/New_York');
SELECT jobs.next_run('*/15 * * * *', '2026-03-08 06:45+00', 'America/New_York');
SELECT jobs.next_run('*/15 * * * *', '2026-03-08 07:00+00', 'America/New_York');
-- New York, autumn: 01:00-01:59 happens twice on 2026-11-01; 01:30 fires once.
SELECT jobs.next_run('30 1 * * *', '2026-10-31 12:00+00', 'America/New_York');
SELECT jobs.next_run('30 1 * * *', '2026-11-01 05:30+00', 'America/New_York');

-- London: 01:00 jumps to 02:00 on 2026-03-29; 02:00 goes back to 01:00 on 2026-10-25.
SELECT jobs.next_run('30 1 * * *', '2026-03-28 12:00+00', 'Europe/London');
SELECT jobs.next_run('30 1 * * *', '2026-10-24 12:00+00', 'Europe/London');
SELECT jobs.next_run('30 1 * * *', '2026-10-25 00:30+00', 'Europe/London');

-- Sao Paulo (rules of 2018-2019, since abolished): midnight jumped to 01:00 on
-- 2018-11-04, and 23:00-23:59 happened twice on 2019-02-16.
SELECT jobs.next_run('30 0 * * *', '2018-11-03 12:00+00', 'America/Sao_Paulo');
SELECT jobs.next_run('0 0 * * *', '2018-11-03 12:00+00', 'America/Sao_Paulo');
SELECT jobs.next_run('30 23 * * *', '2019-02-16 12:00+00', 'America/Sao_Paulo');
SELECT jobs.next_run('30 23 * * *', '2019-02-17 01:30+00', 'America/Sao_Paulo');
-- No daylight-saving time any more there.
SELECT jobs.next_run('30 0 * * *', '2026-11-03 12:00+00', 'America/Sao_Paulo');

-- Intervals.
SELECT jobs.next_run('every 30 seconds', '2026-11-22 00:00+00');
SELECT jobs.next_run('every 5 minutes', '2026-11-22 00:00+00');
SELECT jobs.next_run('90 seconds', '2026-11-22 00:00+00');
SELECT jobs.next_run('1 hour', '2026-11-22 00:00+00');

-- Mistakes, with their position.
SELECT jobs.next_run('* * * *', now());
SELECT jobs.next_run('* * * * * *', now());
SELECT jobs.next_run('61 * * * *', now());
SELECT jobs.next_run('0 0 $-3 * *', now());
SELECT jobs.next_run('$ 0 * * *', now());
SELECT jobs.next_run('* 24 * * *', now());
SELECT jobs.next_run('* * 0 * *', now());
SELECT jobs.next_run('* * * foo *', now());
SELECT jobs.next_run('* * * * funday', now());
SELECT jobs.next_run('5-1 * * * *', now());
SELECT jobs.next_run('*/0 * * * *', now());
SELECT jobs.next_run('1,,2 * * * *', now());
SELECT jobs.next_run('@sometimes', now());
SELECT jobs.next_run('every banana', now());
SELECT jobs.next_run('every 0 seconds', now());
SELECT jobs.next_run('every 1000000000 months', now());
SELECT jobs.next_run('* * * * *', now(), 'Mars/Olympus');
SELECT jobs.next_run(NULL, now()) IS NULL AS null_schedule;

-- Definitions: create, update, trigger, drop; another role cannot touch them.
SELECT jobs.define('nightly', 'SELECT 7 AS seven', queue => 'reports', priority => 5,
                   max_attempts => 2, timeout => '1 min', description => 'the nightly one');
SELECT jobs.trigger('nightly', '{"day": "2026-11-21"}') AS t \gset
SELECT jobs.wait(:t, timeout => '60 s');
SELECT name, queue, priority, max_attempts, timeout, input, output
  FROM jobs.runs WHERE id = :t;
-- The caller may override the definition's settings.
SELECT jobs.trigger('nightly', queue => 'urgent', priority => -1, max_attempts => 1) AS t \gset
SELECT jobs.wait(:t, timeout => '60 s');
SELECT name, queue, priority, max_attempts, timeout FROM jobs.runs WHERE id = :t;
SELECT jobs.define('nightly', 'SELECT 8', enabled => false);
SELECT jobs.trigger('nightly');
SELECT jobs.trigger('no_such_job');
SELECT jobs.define('', 'SELECT 1');
SELECT jobs.define('x', ' ');
SELECT jobs.define('x', 'SELECT 1', kind => 'python');
SELECT jobs.schedule('every_minute', '*/1 * * * *', 'SELECT 1', timezone => 'Europe/London');
SELECT jobs.schedule('bad', '* * *', 'SELECT 1');
SELECT jobs.schedule('bad', '0 0 30 2 *', 'SELECT 1');
SELECT jobs.schedule('bad', '@daily', 'SELECT 1', timezone => 'Nowhere/Special');
SELECT name, schedule, timezone, enabled, paused, next_run_at > now() AS in_future
  FROM jobs.definitions ORDER BY name;
SELECT jobs.pause('every_minute'), jobs.pause('no_such_job');
SELECT paused FROM jobs.definitions WHERE name = 'every_minute';
SELECT jobs.resume('every_minute');
CREATE ROLE zj_sched_other LOGIN;
SET ROLE zj_sched_other;
SELECT count(*) AS visible FROM jobs.definitions;
SELECT jobs.define('nightly', 'SELECT 666');
SELECT jobs.pause('every_minute') AS paused_someone_elses;
RESET ROLE;
DROP ROLE zj_sched_other;
SELECT command FROM jobs.definitions WHERE name = 'nightly';
SELECT jobs.unschedule('every_minute'), jobs.drop('nightly'), jobs.drop('nightly');
SELECT count(*) AS left FROM jobs.definitions;
