/*-------------------------------------------------------------------------
 *
 * limits.c
 *	  Paused queues and concurrency limits (per queue, per job name).
 *
 *	  Most installations have none, and the claim path must not pay for
 *	  them: a flag in shared memory says whether any may exist.  The
 *	  functions that set them raise it at once, commits that change them
 *	  raise it again, and the launcher lowers it when the tables are empty.
 *
 *	  With limits, a claim skips runs of paused and saturated queues and
 *	  names, then, for a run under a limit, locks the limit's row (so that
 *	  claims under one limit take turns), counts the runs running under it
 *	  in a new snapshot (which sees every claim committed before the lock
 *	  was granted) and claims only below the limit.  A claim that finds the
 *	  limit reached in between gives up its transaction and tries again.
 *	  Runs under limits never join batches: they would not count as running.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "zapjobs.h"
#include "bookkeeping.h"

/* Columns of the limits query: text[] each. */
#define ZJ_LIMITS_QUERY \
	"SELECT ARRAY(SELECT u.name FROM jobs.queues u" \
	"  WHERE u.paused OR u.max_concurrency IS NOT NULL)," \
	" ARRAY(SELECT u.name FROM jobs.queues u WHERE u.paused" \
	"  OR u.max_concurrency <= (SELECT count(*) FROM jobs.runs x" \
	"   WHERE x.status = 'running' AND x.queue = u.name))," \
	" ARRAY(SELECT l.name FROM jobs.job_limits l)," \
	" ARRAY(SELECT l.name FROM jobs.job_limits l" \
	"  WHERE l.max_concurrency <= (SELECT count(*) FROM jobs.runs x" \
	"   WHERE x.status = 'running' AND x.name = l.name))"

typedef struct ZjLimits
{
	Datum		limited_queues; /* text[]: paused or limited */
	Datum		blocked_queues; /* text[]: paused or at their limit */
	Datum		limited_names;
	Datum		blocked_names;
} ZjLimits;

bool
zj_limits_active(void)
{
	return zj_shmem_ready() && pg_atomic_read_u32(&zj_shared->limits_active) != 0;
}

static void
zj_limits_read(ZjLimits *l)
{
	static SPIPlanPtr plan = NULL;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	zj_book_exec(&plan, ZJ_LIMITS_QUERY, 0, NULL, NULL, NULL);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	l->limited_queues = SPI_getbinval(tup, desc, 1, &isnull);
	l->blocked_queues = SPI_getbinval(tup, desc, 2, &isnull);
	l->limited_names = SPI_getbinval(tup, desc, 3, &isnull);
	l->blocked_names = SPI_getbinval(tup, desc, 4, &isnull);
}

static bool
zj_limits_array_has(Datum array, const char *value)
{
	ArrayType  *arr = DatumGetArrayTypeP(array);
	Datum	   *elems;
	int			n;
	int			i;

	if (value == NULL)
		return false;
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &n);
	for (i = 0; i < n; i++)
		if (strcmp(TextDatumGetCString(elems[i]), value) == 0)
			return true;
	return false;
}

/*
 * Lock the limit's row and check, in a fresh snapshot, that one more run
 * fits under it.  table is jobs.queues or jobs.job_limits, column the
 * runs' column it limits.
 */
static bool
zj_limits_room(bool queue, const char *key)
{
	static SPIPlanPtr lock_queue = NULL;
	static SPIPlanPtr lock_name = NULL;
	static SPIPlanPtr count_queue = NULL;
	static SPIPlanPtr count_name = NULL;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(key)};
	bool		isnull;
	Datum		max;
	int64		running;

	if (zj_book_exec(queue ? &lock_queue : &lock_name,
					 queue ?
					 "SELECT CASE WHEN u.paused THEN 0 ELSE u.max_concurrency END"
					 " FROM jobs.queues u WHERE u.name = $1 FOR UPDATE" :
					 "SELECT l.max_concurrency FROM jobs.job_limits l"
					 " WHERE l.name = $1 FOR UPDATE",
					 1, types, values, NULL) != 1)
		return true;			/* removed meanwhile */
	max = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return true;
	zj_book_exec(queue ? &count_queue : &count_name,
				 queue ?
				 "SELECT count(*) FROM jobs.runs r"
				 " WHERE r.status = 'running' AND r.queue = $1" :
				 "SELECT count(*) FROM jobs.runs r"
				 " WHERE r.status = 'running' AND r.name = $1",
				 1, types, values, NULL);
	running = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
	return running < DatumGetInt32(max);
}

/* The next claimable run of role outside blocked queues and names, or 0. */
static int64
zj_limits_candidate(Oid role, ZjLimits *l, char **queue, char **name)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[3] = {REGROLEOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[3] = {ObjectIdGetDatum(role), l->blocked_queues,
	l->blocked_names};
	bool		isnull;

	if (zj_book_exec(&plan,
					 "SELECT q.id, q.queue, q.name FROM jobs.runs q"
					 " WHERE q.status = 'pending' AND q.owner = $1"
					 " AND q.queue <> ALL ($2)"
					 " AND coalesce(q.name, '') <> ALL ($3)"
					 " ORDER BY q.priority, q.run_at, q.id"
					 " LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED",
					 3, types, values, NULL) != 1)
		return 0;
	*queue = zj_book_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	*name = zj_book_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Claim the next run of role that paused queues and limits allow.  Locks
 * are taken in one order (run, queue, name), one candidate per
 * transaction, so claims cannot deadlock.
 */
ZjClaimResult
zj_book_claim_limited(Oid role, ZjRun **run, MemoryContext cxt)
{
	ZjLimits	l;
	char	   *queue = NULL;
	char	   *name = NULL;
	int64		id;
	bool		room;

	zj_book_begin();
	zj_limits_read(&l);
	id = zj_limits_candidate(role, &l, &queue, &name);
	room = id != 0 &&
		(!zj_limits_array_has(l.limited_queues, queue) || zj_limits_room(true, queue)) &&
		(!zj_limits_array_has(l.limited_names, name) || zj_limits_room(false, name));
	zj_book_end();
	if (id == 0)
		return ZJ_CLAIM_NONE;
	if (!room)
		return ZJ_CLAIM_AGAIN;
	return zj_book_claim_direct(role, run, cxt, id);
}

/* zj_book_lock_pending while limits may exist: runs under none of them. */
List *
zj_book_lock_pending_unlimited(Oid role, int n, MemoryContext cxt)
{
	static SPIPlanPtr plans[ZJ_LOCK_PLANS];
	Oid			types[3] = {REGROLEOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[3];
	int			slot = zj_book_lock_limit(n);
	ZjLimits	l;
	List	   *runs;

	zj_book_begin();
	zj_limits_read(&l);
	values[0] = ObjectIdGetDatum(role);
	values[1] = l.limited_queues;
	values[2] = l.limited_names;
	zj_book_exec(&plans[slot],
				 plans[slot] ? NULL :
				 psprintf("SELECT " ZJ_LOCK_COLUMNS
						  " FROM jobs.runs r WHERE r.status = 'pending' AND r.owner = $1"
						  " AND r.queue <> ALL ($2) AND coalesce(r.name, '') <> ALL ($3)"
						  " ORDER BY r.priority, r.run_at, r.id"
						  " LIMIT %d FOR NO KEY UPDATE SKIP LOCKED", 1 << slot),
				 3, types, values, NULL);
	runs = zj_book_locked_runs(cxt);
	zj_book_end();
	return runs;
}

/*
 * Launcher: set the flag to whether limits exist.  A commit that adds one
 * bumps limits_changes before it raises the flag, so re-checking the
 * counter after lowering it catches a commit we raced with.
 */
void
zj_limits_refresh(void)
{
	static SPIPlanPtr plan = NULL;
	uint32		changes = pg_atomic_read_u32(&zj_shared->limits_changes);
	bool		any;
	bool		isnull;

	zj_book_begin();
	zj_book_exec(&plan,
				 "SELECT EXISTS (SELECT FROM jobs.queues u"
				 "  WHERE u.paused OR u.max_concurrency IS NOT NULL)"
				 " OR EXISTS (SELECT FROM jobs.job_limits)",
				 0, NULL, NULL, NULL);
	any = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
									 SPI_tuptable->tupdesc, 1, &isnull));
	zj_book_end();
	/* Rows written without our functions (a restore, say) count too. */
	if (any)
	{
		pg_atomic_write_u32(&zj_shared->limits_active, 1);
		return;
	}
	pg_atomic_write_u32(&zj_shared->limits_active, 0);
	pg_memory_barrier();
	if (pg_atomic_read_u32(&zj_shared->limits_changes) != changes)
		pg_atomic_write_u32(&zj_shared->limits_active, 1);
}
