/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  The launcher removes finished runs (their logs and attempts go with
 *	  them) after zapjobs.keep_completed (completed and cancelled runs) or
 *	  zapjobs.keep_failed, unless the run's job definition or queue says
 *	  otherwise, and counts them per hour in jobs.run_stats first (all in
 *	  jobs._expire, which jobs.purge shares).
 *
 *	  A little at a time: at most once a second (every ten while nothing
 *	  is due and no run finished, or an empty round was slow),
 *	  ZJ_EXPIRE_BATCH runs per
 *	  transaction, a few transactions per round, locked runs skipped.  So
 *	  removing history never holds a lock a claim or a user would wait for,
 *	  and the dead rows it leaves are few enough for the launcher's own
 *	  vacuum (zapjobs.vacuum_threshold counts them).  Nothing is removed
 *	  while a restore loads the database (restore.c): the logs, attempts
 *	  and dependencies of the runs it loaded are still to come.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "query.h"
#include "restore.h"
#include "retention.h"

#define ZJ_EXPIRE_BATCH		5000	/* runs per transaction */
#define ZJ_EXPIRE_ROUNDS	10		/* transactions per round, at most */
#define ZJ_EXPIRE_EVERY_MS	1000	/* rounds at most this often */
#define ZJ_EXPIRE_IDLE_MS	10000	/* ... after one that found nothing */
#define ZJ_EXPIRE_CHEAP_MS	50		/* an empty round this fast may repeat */

uint64		zj_retention_removed = 0;

static TimestampTz zj_retention_last = 0;

/* A retention setting in seconds as an interval; NULL for 0 (forever). */
static Datum
zj_retention_keep(int seconds, char *isnull)
{
	Interval   *iv = palloc0(sizeof(Interval));

	iv->time = (int64) seconds * USECS_PER_SEC;
	*isnull = seconds > 0 ? ' ' : 'n';
	return IntervalPGetDatum(iv);
}

/* One transaction's worth; returns the runs removed, or -1 before 1.1. */
static int
zj_retention_batch(TimestampTz now)
{
	static SPIPlanPtr exists = NULL;
	static SPIPlanPtr expire = NULL;
	Oid			types[3] = {TIMESTAMPTZOID, INTERVALOID, INTERVALOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	int			n = -1;
	bool		isnull;

	/* A restore may still load the logs of the runs it loaded. */
	if (zj_restore_under_way())
		return 0;
	values[0] = TimestampTzGetDatum(now);
	values[1] = zj_retention_keep(zj_keep_completed_s, &nulls[1]);
	values[2] = zj_retention_keep(zj_keep_failed_s, &nulls[2]);
	zj_query_begin();
	zj_query_exec(&exists,
				  "SELECT pg_catalog.to_regprocedure('jobs._expire(timestamptz, interval,"
				  " interval, boolean, text, integer)') IS NOT NULL",
				  0, NULL, NULL, NULL);
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
								   &isnull)))
	{
		zj_query_exec(&expire,
					  "SELECT jobs._expire($1, $2, $3, true, NULL, "
					  CppAsString2(ZJ_EXPIRE_BATCH) ")",
					  3, types, values, nulls);
		n = zj_query_int4(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	}
	zj_query_end();
	return n;
}

/* A batch, for zj_query_own_xact: *arg is the time in, the count out. */
static void
zj_retention_batch_xact(void *arg)
{
	int64	   *io = arg;

	*io = zj_retention_batch((TimestampTz) *io);
}

/* One batch in a transaction of its own; returns the runs removed, -1 on error. */
static int
zj_retention_guarded_batch(TimestampTz now)
{
	int64		io = (int64) now;

	return zj_query_own_xact(zj_retention_batch_xact, &io) ? (int) io : -1;
}

/*
 * Launcher: remove what is due, a round at most every ZJ_EXPIRE_EVERY_MS;
 * after a round that found nothing, ZJ_EXPIRE_IDLE_MS (the scan may still
 * visit runs kept longer than the shortest retention), unless runs keep
 * finishing (finished, the launcher's count of them, moved) and the empty
 * round was cheap: then they come due a few at a time, not in one burst
 * ten seconds' worth large.
 */
void
zj_retention_run(uint64 finished)
{
	static uint64 finished_seen = 0;
	static int	every_ms = ZJ_EXPIRE_EVERY_MS;
	TimestampTz now = GetCurrentTimestamp();
	int			round;
	int			n = 0;
	bool		cheap;

	if (!TimestampDifferenceExceeds(zj_retention_last, now, every_ms))
		return;
	zj_retention_last = now;
	for (round = 0; round < ZJ_EXPIRE_ROUNDS; round++)
	{
		n = zj_retention_guarded_batch(now);
		if (n > 0)
			zj_retention_removed += n;
		if (n < ZJ_EXPIRE_BATCH)
			break;
	}
	cheap = !TimestampDifferenceExceeds(now, GetCurrentTimestamp(),
										ZJ_EXPIRE_CHEAP_MS);
	if (round > 0 || n > 0 || (n == 0 && finished != finished_seen && cheap))
		every_ms = ZJ_EXPIRE_EVERY_MS;
	else
		every_ms = ZJ_EXPIRE_IDLE_MS;
	finished_seen = finished;
}
