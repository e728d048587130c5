/*-------------------------------------------------------------------------
 *
 * schedule.c
 *	  The launcher fires due schedules (jobs.definitions with a schedule):
 *	  for each, a run owned by the definition's owner, with its settings,
 *	  unless the run of the previous tick is still unfinished: then the
 *	  tick is skipped and counted.  The next tick is computed from now, so
 *	  after downtime a schedule runs once, not once per missed tick.
 *	  Nothing fires while a restore loads the database (restore.c).
 *	  @reboot schedules fall due once after each server start.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "cron.h"
#include "publisher.h"
#include "query.h"
#include "restore.h"
#include "runstate.h"
#include "schedule.h"
#include "shmem.h"
#include "wakeup.h"

#define ZJ_FIRE_BATCH 1000

PG_FUNCTION_INFO_V1(zj_schedules_changed);

/* jobs._schedules_changed(): the launcher looks again at commit. */
Datum
zj_schedules_changed(PG_FUNCTION_ARGS)
{
	zj_wakeup_note_scheduled(0);
	PG_RETURN_VOID();
}

/* Columns of a due definition. */
#define ZJ_DUE_QUERY \
	"SELECT d.name, d.owner::oid, d.command, d.kind, d.queue, d.priority," \
	" d.max_attempts, d.timeout, d.schedule, d.timezone," \
	" (SELECT r.status FROM jobs.runs r WHERE r.id = d.last_run_id" \
	"  AND r.owner = d.owner) IN " \
	ZJ_UNFINISHED_STATUSES ", d.next_run_at" \
	" FROM jobs.definitions d WHERE d.schedule IS NOT NULL AND NOT d.paused" \
	" AND d.enabled AND d.next_run_at <= $1" \
	" ORDER BY d.next_run_at LIMIT $2 FOR UPDATE SKIP LOCKED"

/* Record a tick: fired (run_id) or skipped (0), and when the next is due. */
static void
zj_schedule_ticked(const char *name, int64 run_id, TimestampTz next, TimestampTz now)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[4] = {TEXTOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[4];
	char		nulls[4] = {' ', run_id ? ' ' : 'n', next ? ' ' : 'n', ' '};

	values[0] = CStringGetTextDatum(name);
	values[1] = Int64GetDatum(run_id);
	values[2] = TimestampTzGetDatum(next);
	values[3] = TimestampTzGetDatum(now);
	zj_query_exec(&plan,
				 "UPDATE jobs.definitions d SET next_run_at = $3,"
				 " last_run_at = CASE WHEN $2 IS NULL THEN d.last_run_at ELSE $4 END,"
				 " last_run_id = coalesce($2, d.last_run_id),"
				 " last_status = CASE WHEN $2 IS NULL THEN d.last_status ELSE 'pending' END,"
				 " skipped_ticks = d.skipped_ticks + CASE WHEN $2 IS NULL"
				 "  AND d.skipped_ticks < 9223372036854775807 THEN 1 ELSE 0 END,"
				 " last_skipped_at = CASE WHEN $2 IS NULL THEN $4 ELSE d.last_skipped_at END"
				 " WHERE d.name = $1",
				 4, types, values, nulls);
}

/*
 * The next tick of a definition's schedule after now; 0 if none, or if the
 * row holds an invalid schedule or time zone (written around
 * jobs.schedule()): that schedule stops, the others go on.
 */
static TimestampTz
zj_schedule_next_tick(HeapTuple tup, TupleDesc desc, TimestampTz now)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *text = zj_query_text(tup, desc, 9);
	char	   *tzname = zj_query_text(tup, desc, 10);
	TimestampTz next = 0;

	PG_TRY();
	{
		ZjSchedule	s;

		zj_cron_parse(text, &s);
		if (s.is_interval)
		{
			/* From the tick that was due: no drift; after downtime, from now. */
			next = zj_query_time(tup, desc, 12) + s.interval_us;
			if (next <= now)
				next = now + s.interval_us;
		}
		else
			next = zj_cron_next(&s, now, zj_cron_timezone(tzname));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		next = 0;
	}
	PG_END_TRY();
	return next;
}

/* A due definition, copied out of the query that locked it. */
typedef struct ZjDue
{
	char	   *name;
	ZjNewRun	run;
	Interval	timeout;
	Interval	retry_base;
	Interval	retry_max_delay;
	bool		busy;			/* its previous run is unfinished */
	TimestampTz next;			/* its next tick, 0 for none */
} ZjDue;

/*
 * Copy due definition tup (ZJ_DUE_QUERY) into d, in the current context.
 * Users write these rows: values jobs.enqueue would refuse fall back to
 * the defaults.
 */
static void
zj_schedule_copy_due(HeapTuple tup, TupleDesc desc, TimestampTz now, ZjDue *d)
{
	bool		isnull;
	Datum		v;
	Interval   *iv;
	double		usecs;

	memset(d, 0, sizeof(*d));
	d->name = zj_query_text(tup, desc, 1);
	d->run.name = d->name;
	d->run.owner = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
	d->run.command = zj_query_text(tup, desc, 3);
	d->run.kind = zj_query_text(tup, desc, 4);
	d->run.queue = zj_query_text(tup, desc, 5);
	if (d->run.queue == NULL || d->run.queue[0] == '\0' ||
		strlen(d->run.queue) >= ZJ_NAME_MAX)
		d->run.queue = "default";
	d->run.priority = zj_query_int4(tup, desc, 6);
	v = SPI_getbinval(tup, desc, 7, &isnull);
	d->run.max_attempts = (isnull || DatumGetInt32(v) < 1 || DatumGetInt32(v) > 1000) ?
		zj_default_max_attempts : DatumGetInt32(v);
	v = SPI_getbinval(tup, desc, 8, &isnull);
	iv = isnull ? NULL : DatumGetIntervalP(v);
	d->timeout.time = (int64) zj_default_timeout_s * USECS_PER_SEC;
	/* As jobs.define compares it: months of 30 days; checked in double. */
	usecs = iv == NULL ? 0 : (double) iv->time +
		((double) iv->month * DAYS_PER_MONTH + iv->day) * USECS_PER_DAY;
	if (usecs > 0 && usecs <= (double) PG_INT32_MAX * 1000)
		d->timeout.time = (int64) usecs;
	d->run.timeout = &d->timeout;
	d->run.run_at = now;
	d->retry_base.time = (int64) zj_retry_base_ms * 1000;
	d->retry_max_delay.time = (int64) zj_retry_max_delay_ms * 1000;
	d->run.retry_base = &d->retry_base;
	d->run.retry_factor = zj_retry_factor;
	d->run.retry_max_delay = &d->retry_max_delay;
	v = SPI_getbinval(tup, desc, 11, &isnull);
	d->busy = !isnull && DatumGetBool(v);
	d->next = zj_schedule_next_tick(tup, desc, now);
}

/*
 * Fire one due definition in a subtransaction: bad data in one row costs
 * that schedule its tick, never the others or the launcher's round.
 */
static void
zj_schedule_fire_one(ZjDue *d, TimestampTz now)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		/* A schedule never has two runs of itself unfinished. */
		int64		run_id = d->busy ? 0 : zj_runstate_insert(&d->run, NULL);

		zj_query_begin();
		zj_schedule_ticked(d->name, run_id, d->next, now);
		zj_query_end();
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		elog(LOG, "zapjobs could not fire schedule \"%s\"", d->name);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
}

/* Fire up to a batch of due schedules in the current transaction; how many. */
static int
zj_schedule_fire_batch(TimestampTz now)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {TIMESTAMPTZOID, INT4OID};
	Datum		values[2] = {TimestampTzGetDatum(now), Int32GetDatum(ZJ_FIRE_BATCH)};
	MemoryContext cxt = CurrentMemoryContext;
	ZjDue	   *due;
	int			n;
	int			i;

	zj_query_begin();
	n = zj_query_exec(&plan, ZJ_DUE_QUERY, 2, types, values, NULL);
	due = MemoryContextAllocZero(cxt, sizeof(ZjDue) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		zj_schedule_copy_due(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, now, &due[i]);
		MemoryContextSwitchTo(old);
	}
	zj_query_end();
	/* The rows stay locked by this transaction; no bookkeeping nests. */
	for (i = 0; i < n; i++)
		zj_schedule_fire_one(&due[i], now);
	return n;
}

/*
 * Once after the server started, its @reboot schedules fall due now (they
 * have no next tick otherwise), unless a restore holds the database.
 */
static void
zj_schedule_reboot(void)
{
	static SPIPlanPtr plan = NULL;
	int			n;

	zj_query_xact_begin();
	if (!zj_restore_under_way())
	{
		zj_query_begin();
		n = zj_query_exec(&plan,
						  "UPDATE jobs.definitions d SET next_run_at = pg_catalog.now()"
						  " WHERE d.schedule IS NOT NULL AND NOT d.paused AND d.enabled"
						  " AND pg_catalog.lower(pg_catalog.btrim(d.schedule)) = '@reboot'",
						  0, NULL, NULL, NULL);
		zj_query_end();
		if (n > 0)
			elog(LOG, "zapjobs: %d @reboot schedule(s) due after the server start", n);
		zj_db->rebooted = true;
	}
	CommitTransactionCommand();
}

/* Keep definitions' last_status in step with their last runs. */
static void
zj_schedule_refresh_status(void)
{
	static SPIPlanPtr plan = NULL;

	zj_query_begin();
	zj_query_exec(&plan,
				 "UPDATE jobs.definitions d SET last_status = r.status"
				 " FROM jobs.runs r WHERE r.id = d.last_run_id AND r.owner = d.owner"
				 " AND d.name IN (SELECT d2.name FROM jobs.definitions d2"
				 "  JOIN jobs.runs r2 ON r2.id = d2.last_run_id AND r2.owner = d2.owner"
				 "  WHERE d2.last_status IS DISTINCT FROM r2.status"
				 "  FOR UPDATE OF d2 SKIP LOCKED)",
				 0, NULL, NULL, NULL);
	zj_query_end();
}

/* The earliest next_run_at of an active schedule, or 0. */
static TimestampTz
zj_schedule_earliest(void)
{
	static SPIPlanPtr plan = NULL;
	TimestampTz t;

	zj_query_begin();
	zj_query_exec(&plan,
				 "SELECT min(d.next_run_at) FROM jobs.definitions d"
				 " WHERE d.schedule IS NOT NULL AND NOT d.paused AND d.enabled",
				 0, NULL, NULL, NULL);
	t = zj_query_time(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	zj_query_end();
	return t;
}

/*
 * Launcher: fire what is due, in transactions of ZJ_FIRE_BATCH; returns
 * ms until the next schedule is due, or -1.
 */
long
zj_schedule_fire_due(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next;
	bool		restoring;
	int			n;

	if (!zj_db->rebooted)
		zj_schedule_reboot();
	do
	{
		zj_query_xact_begin();
		/* A restore has yet to set the runs' sequence past its runs. */
		restoring = zj_restore_under_way();
		n = restoring ? 0 : zj_schedule_fire_batch(now);
		CommitTransactionCommand();
		zj_publisher_run();
	} while (n == ZJ_FIRE_BATCH);
	if (restoring)
		return -1;

	zj_query_xact_begin();
	zj_schedule_refresh_status();
	next = zj_schedule_earliest();
	CommitTransactionCommand();
	if (next == 0)
		return -1;
	return Max(1, (long) ((next - GetCurrentTimestamp()) / 1000) + 1);
}

/* zapjobs_cron, when installed here, applies pg_cron's settings. */
static void
zj_schedule_cron_settings_xact(void *arg)
{
	zj_query_begin();
	/* Not a saved plan: the extension comes and goes. */
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_extension"
					" WHERE extname = 'zapjobs_cron'", true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
		(void) SPI_execute("SELECT cron._apply_settings()", false, 0);
	zj_query_end();
}

/*
 * Launcher, at start and after each configuration reload: pg_cron's
 * settings (cron.max_running_jobs, cron.timezone, cron.log_run) take effect
 * on zapjobs_cron's jobs.
 */
void
zj_schedule_apply_cron_settings(void)
{
	(void) zj_query_own_xact(zj_schedule_cron_settings_xact, NULL);
}
