/*-------------------------------------------------------------------------
 *
 * ratelimit.c
 *	  Rate limits (jobs.set_queue_rate, jobs.set_job_rate): at most `runs`
 *	  starts of a queue's or a job name's runs in any window of length
 *	  `per`, held exactly by all workers together.
 *
 *	  Each limit keeps the start times of its last `runs` starts in a ring
 *	  of rows (jobs.rate_starts); next_slot is the oldest.  A claim under
 *	  the limit locks the limit's row, so claims under it take turns, and
 *	  may start its run only if that oldest start has left the window,
 *	  measured at the moment of the check; the run's start, taken after the
 *	  check, then replaces it.  So any `runs` + 1 consecutive starts span
 *	  more than `per`.  All of it happens in the claim's transaction: a
 *	  claim that rolls back leaves no start behind.
 *
 *	  A full window is a blocked queue or name for claim.c; when it frees
 *	  is known exactly (the oldest start plus `per`), and idle workers and
 *	  the launcher sleep until then rather than polling.  A ring missing
 *	  slots (a restore that could not load them) gets them back, free.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "query.h"
#include "ratelimit.h"

/* The starts this claim will take, found free by zj_ratelimit_room. */
static bool zj_ratelimit_taking[2];
static char zj_ratelimit_keys[2][ZJ_NAME_MAX];

/* Earliest moment a full window frees, as the last look saw it; 0: none. */
static TimestampTz zj_ratelimit_free_at = 0;

/*
 * The slots of a limit's ring that have no row get one, free: the ring
 * of a limit whose starts a restore could not load (pg_restore --jobs may
 * load jobs.rate_starts before jobs.rate_limits, and the foreign key
 * refuses them) would otherwise stop every claim under it.  Its earlier
 * starts are not known: the window is taken as empty.
 */
static void
zj_ratelimit_repair(Oid *types, Datum *values)
{
	static SPIPlanPtr plan = NULL;
	int			n;

	n = zj_query_exec(&plan,
					  "INSERT INTO jobs.rate_starts (scope, name, slot)"
					  " SELECT l.scope, l.name, i FROM jobs.rate_limits l,"
					  "  pg_catalog.generate_series(0, l.runs - 1) i"
					  " WHERE l.scope = $1 AND l.name = $2"
					  " ON CONFLICT ON CONSTRAINT rate_starts_pkey DO NOTHING",
					  2, types, values, NULL);
	if (n > 0)
		ereport(LOG,
				(errmsg("zapjobs rate limit of %s \"%s\" lacked %d of its slots; they count as free",
						TextDatumGetCString(values[0]), TextDatumGetCString(values[1]), n)));
}

/* The oldest start of the limit's window (one row), or false if it has none. */
static bool
zj_ratelimit_oldest(Oid *types, Datum *values)
{
	static SPIPlanPtr plan = NULL;

	/*
	 * Now that the claims before ours committed, a new snapshot sees their
	 * starts (a join in the locking statement would be re-checked against
	 * the old slot row, and find none).
	 */
	return zj_query_exec(&plan,
						 "SELECT s.started_at <= pg_catalog.clock_timestamp() - l.per,"
						 " s.started_at + l.per"
						 " FROM jobs.rate_limits l JOIN jobs.rate_starts s"
						 "  ON s.scope = l.scope AND s.name = l.name AND s.slot = l.next_slot"
						 " WHERE l.scope = $1 AND l.name = $2",
						 2, types, values, NULL) == 1;
}

/*
 * Lock the rate limit of a queue (or job name) and check that one more
 * start fits in its window now; true also when there is no such limit.
 * The claim takes the start with zj_ratelimit_take once it has its run.
 */
bool
zj_ratelimit_room(bool queue, const char *key)
{
	static SPIPlanPtr lock = NULL;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	HeapTuple	tup;
	TupleDesc	desc;

	values[0] = CStringGetTextDatum(queue ? "queue" : "name");
	values[1] = CStringGetTextDatum(key);
	if (zj_query_exec(&lock,
					  "SELECT FROM jobs.rate_limits l WHERE l.scope = $1 AND l.name = $2"
					  " FOR UPDATE",
					  2, types, values, NULL) != 1)
		return true;
	if (!zj_ratelimit_oldest(types, values))
	{
		zj_ratelimit_repair(types, values);
		if (!zj_ratelimit_oldest(types, values))
			elog(ERROR, "zapjobs rate limit of %s \"%s\" has no slot %s",
				 queue ? "queue" : "job", key, "at its next_slot");
	}
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	if (!zj_query_bool(tup, desc, 1))
	{
		zj_ratelimit_note_full(zj_query_time(tup, desc, 2));
		return false;
	}
	zj_ratelimit_taking[queue ? 0 : 1] = true;
	strlcpy(zj_ratelimit_keys[queue ? 0 : 1], key, ZJ_NAME_MAX);
	return true;
}

/* A window found full frees at free_at (0: none): the sleep ends then. */
void
zj_ratelimit_note_full(TimestampTz free_at)
{
	if (free_at != 0 && (zj_ratelimit_free_at == 0 || free_at < zj_ratelimit_free_at))
		zj_ratelimit_free_at = free_at;
}

/* The claim goes no further: take no start. */
void
zj_ratelimit_forget(void)
{
	zj_ratelimit_taking[0] = zj_ratelimit_taking[1] = false;
}

/*
 * The run is claimed: its start replaces the oldest of each limit it is
 * under (the rows are still locked by zj_ratelimit_room).
 */
void
zj_ratelimit_take(int64 run_id)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[3] = {TEXTOID, TEXTOID, INT8OID};
	Datum		values[3];
	int			i;

	if (!zj_ratelimit_taking[0] && !zj_ratelimit_taking[1])
		return;
	zj_query_begin();
	for (i = 0; i < 2; i++)
	{
		if (!zj_ratelimit_taking[i])
			continue;
		values[0] = CStringGetTextDatum(i == 0 ? "queue" : "name");
		values[1] = CStringGetTextDatum(zj_ratelimit_keys[i]);
		values[2] = Int64GetDatum(run_id);
		zj_query_exec(&plan,
					  "WITH l AS (UPDATE jobs.rate_limits l"
					  "  SET next_slot = (l.next_slot + 1) % l.runs"
					  "  WHERE l.scope = $1 AND l.name = $2"
					  "  RETURNING l.scope, l.name, (l.next_slot + l.runs - 1) % l.runs AS slot)"
					  " UPDATE jobs.rate_starts s SET started_at = r.started_at"
					  " FROM l, jobs.runs r"
					  " WHERE r.id = $3 AND s.scope = l.scope AND s.name = l.name"
					  " AND s.slot = l.slot",
					  3, types, values, NULL);
	}
	zj_query_end();
	zj_ratelimit_forget();
}

/* When the first full window frees (the launcher's look), or 0. */
TimestampTz
zj_ratelimit_next_free(void)
{
	static SPIPlanPtr plan = NULL;
	TimestampTz free_at;

	zj_query_begin();
	zj_query_exec(&plan, ZJ_RATE_FREE_AT, 0, NULL, NULL, NULL);
	free_at = zj_query_time(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	zj_query_end();
	return free_at;
}

/*
 * An idle worker's sleep: sleep_ms, or less if a window it found full
 * frees sooner (then it looks again at that moment, +1 ms).
 */
long
zj_ratelimit_wait_ms(long sleep_ms)
{
	long		left;

	if (zj_ratelimit_free_at == 0)
		return sleep_ms;
	left = (long) ((zj_ratelimit_free_at - GetCurrentTimestamp()) / 1000) + 1;
	zj_ratelimit_free_at = 0;
	return Max(Min(left, sleep_ms), 1);
}
