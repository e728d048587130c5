/*-------------------------------------------------------------------------
 *
 * claim.c
 *	  Which pending run a worker takes next: the one of its role first by
 *	  priority, due time and id, skipping runs other workers hold
 *	  (FOR NO KEY UPDATE SKIP LOCKED).  runstate.c makes the change to
 *	  running; a batch's further runs are only locked here (see batch.c).
 *
 *	  Paused queues and concurrency limits (per queue, per job name): most
 *	  installations have none, and the claim path must not pay for them: a
 *	  flag in shared memory says whether any may exist.  The functions that
 *	  set them raise it at once, commits that change them raise it again,
 *	  and the launcher lowers it when the tables are empty.
 *
 *	  With limits, a claim skips runs of paused and saturated queues and
 *	  names, then, for a run under a limit, locks the limit's row (so that
 *	  claims under one limit take turns), counts the runs running under it
 *	  in a new snapshot (which sees every claim committed before the lock
 *	  was granted) and claims only below the limit.  A claim that finds the
 *	  limit reached in between gives up its transaction and tries again.
 *	  Runs under limits never join batches: they would not count as running.
 *
 *	  A worker does not scan its role's queue from the head for each claim:
 *	  every run claimed leaves a dead entry at the head of the pending-runs
 *	  index, which a vacuum removes only once no snapshot can still see the
 *	  run pending.  While one is held (pg_dump, a long report, a forgotten
 *	  BEGIN) each claim would step over all runs claimed since, and a queue
 *	  of 100,000 would crawl.  So, as PgQ's consumers keep a position, each
 *	  worker claims after the (priority, run_at, id) of the last run it took,
 *	  or after the furthest one its role's workers took (their batches
 *	  mostly hold the runs between, which the scan would otherwise step
 *	  over one lock at a time).  It goes back to the head when that finds
 *	  nothing, when a commit made a run pending before its position
 *	  (wakeup.c raises its slot's rewind flag; until its look at the head is
 *	  over, a flagged position does not count for the others), when its
 *	  batch released runs it had locked (batch.c tells the others too when
 *	  this worker will not claim them next), and at least every
 *	  ZJ_REWIND_MS, for runs a failed transaction or a race with a commit
 *	  left behind the positions.  A scan from the head that finds a run
 *	  before the furthest position makes the worker claim after its own
 *	  position until it is there: one sweep takes the runs left behind.
 *
 *	  While a restore loads the database, nothing is claimed (restore.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"

#include "claim.h"
#include "query.h"
#include "ratelimit.h"
#include "restore.h"
#include "runctx.h"
#include "runstate.h"
#include "shmem.h"

/* Plans locking pending runs for a batch: LIMIT 1, 2, 4, ..., 32. */
#define ZJ_LOCK_PLANS 6

/* Longest time a worker claims after its position without a look at the head. */
#define ZJ_REWIND_MS 1000

/* This worker's position: the last run it claimed or locked. */
static ZjRun zj_claim_position;
static ZjRun zj_claim_from;		/* where it claims after (zj_claim_after) */
static ZjRun zj_claim_catch_up; /* claims after its own position until here */
static bool zj_claim_catching_up = false;
static uint32 zj_claim_flag_seen = 0;	/* the rewind flag its look at the head
										 * answers (zj_claim_head_took) */
static bool zj_claim_has_position = false;
static TimestampTz zj_claim_head_at = 0;	/* its last scan from the head */

/*
 * Columns of the limits query: text[] each, then when the first full rate
 * window frees (ratelimit.c).
 */
#define ZJ_LIMITS_QUERY \
	"SELECT ARRAY(SELECT u.name FROM jobs.queues u" \
	"  WHERE u.paused OR u.max_concurrency IS NOT NULL" \
	"  UNION " ZJ_RATE_LIMITED("queue") ")," \
	" ARRAY(SELECT u.name FROM jobs.queues u WHERE u.paused" \
	"  OR u.max_concurrency <= (SELECT count(*) FROM jobs.runs x" \
	"   WHERE x.status = 'running' AND x.queue = u.name)" \
	"  UNION " ZJ_RATE_FULL("queue") ")," \
	" ARRAY(SELECT l.name FROM jobs.job_limits l" \
	"  UNION " ZJ_RATE_LIMITED("name") ")," \
	" ARRAY(SELECT l.name FROM jobs.job_limits l" \
	"  WHERE l.max_concurrency <= (SELECT count(*) FROM jobs.runs x" \
	"   WHERE x.status = 'running' AND x.name = l.name)" \
	"  UNION " ZJ_RATE_FULL("name") ")," \
	" (" ZJ_RATE_FREE_AT ")"

typedef struct ZjLimits
{
	Datum		limited_queues; /* text[]: paused or limited */
	Datum		blocked_queues; /* text[]: paused or at their limit */
	Datum		limited_names;
	Datum		blocked_names;
} ZjLimits;

bool
zj_claim_limits_active(void)
{
	/* Without an entry nobody can have lowered the flag: assume limits. */
	return zj_shmem_ready() &&
		(zj_shmem_my_db(false) == NULL ||
		 pg_atomic_read_u32(&zj_db->limits_active) != 0);
}

static void
zj_claim_read_limits(ZjLimits *l)
{
	static SPIPlanPtr plan = NULL;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	zj_query_exec(&plan, ZJ_LIMITS_QUERY, 0, NULL, NULL, NULL);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	l->limited_queues = SPI_getbinval(tup, desc, 1, &isnull);
	l->blocked_queues = SPI_getbinval(tup, desc, 2, &isnull);
	l->limited_names = SPI_getbinval(tup, desc, 3, &isnull);
	l->blocked_names = SPI_getbinval(tup, desc, 4, &isnull);
	zj_ratelimit_note_full(zj_query_time(tup, desc, 5));
}

static bool
zj_claim_array_has(Datum array, const char *value)
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
 * The queues (paused or at their limit) and job names (at their limit)
 * whose runs no worker may claim now, as text[] in the caller's memory:
 * empty without limits.
 */
void
zj_claim_blocked(Datum *queues, Datum *names)
{
	MemoryContext caller = CurrentMemoryContext;
	ZjLimits	l;

	if (!zj_claim_limits_active())
	{
		*queues = *names = PointerGetDatum(construct_empty_array(TEXTOID));
		return;
	}
	zj_query_begin();
	zj_claim_read_limits(&l);
	MemoryContextSwitchTo(caller);
	*queues = datumCopy(l.blocked_queues, false, -1);
	*names = datumCopy(l.blocked_names, false, -1);
	zj_query_end();
}

/*
 * Lock the limit's row (of jobs.queues, or of jobs.job_limits) and check,
 * in a fresh snapshot, that one more run fits under it.
 */
static bool
zj_claim_concurrency_room(bool queue, const char *key)
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

	if (zj_query_exec(queue ? &lock_queue : &lock_name,
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
	zj_query_exec(queue ? &count_queue : &count_name,
				  queue ?
				  "SELECT count(*) FROM jobs.runs r"
				  " WHERE r.status = 'running' AND r.queue = $1" :
				  "SELECT count(*) FROM jobs.runs r"
				  " WHERE r.status = 'running' AND r.name = $1",
				  1, types, values, NULL);
	running = zj_query_int8(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	return running < DatumGetInt32(max);
}

/* Room under the queue's (or name's) concurrency limit and rate limit. */
static bool
zj_claim_room(bool queue, const char *key)
{
	return zj_claim_concurrency_room(queue, key) && zj_ratelimit_room(queue, key);
}

/* Commits that changed limits so far (see zj_claim_limits_refresh). */
static uint32
zj_claim_changes(void)
{
	return zj_shmem_my_db(false) != NULL ?
		pg_atomic_read_u32(&zj_db->limits_changes) : 0;
}

/*
 * A claim made without limits (the flag was low): did a pause or limit
 * come meanwhile, for this run's queue or name?  The flag is raised only
 * after the counter is bumped, at the commit of that change; a run
 * enqueued into the queue after it, that our claim saw, was enqueued
 * after the bump.  So if the counter has not moved, nothing came.
 */
static bool
zj_claim_limits_came(uint32 before, const char *queue, const char *name)
{
	ZjLimits	l;
	bool		came;

	pg_memory_barrier();
	if (zj_claim_changes() == before)
		return false;
	zj_query_begin();
	zj_claim_read_limits(&l);
	came = zj_claim_array_has(l.limited_queues, queue) ||
		zj_claim_array_has(l.limited_names, name);
	zj_query_end();
	return came;
}

/* The next claimable run of role outside blocked queues and names, or 0. */
static int64
zj_claim_candidate(Oid role, ZjLimits *l, char **queue, char **name)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[3] = {REGROLEOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[3] = {ObjectIdGetDatum(role), l->blocked_queues,
	l->blocked_names};

	if (zj_query_exec(&plan,
					  "SELECT q.id, q.queue, q.name FROM jobs.runs q"
					  " WHERE q.status = 'pending' AND q.owner = $1"
					  " AND q.queue <> ALL ($2)"
					  " AND coalesce(q.name, '') <> ALL ($3)"
					  " ORDER BY q.priority, q.run_at, q.id"
					  " LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED",
					  3, types, values, NULL) != 1)
		return 0;
	*queue = zj_query_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	*name = zj_query_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	return zj_query_int8(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * The run paused queues and limits allow role to claim next: its id, 0
 * for none, -1 if a limit is reached under our feet.  Locks are taken in
 * one order (run, queue, name), one candidate per transaction, so claims
 * cannot deadlock.
 */
static int64
zj_claim_limited_candidate(Oid role)
{
	ZjLimits	l;
	char	   *queue = NULL;
	char	   *name = NULL;
	int64		id;
	bool		room;

	zj_query_begin();
	zj_claim_read_limits(&l);
	id = zj_claim_candidate(role, &l, &queue, &name);

	/*
	 * The limits were read in the snapshot of one statement, the run in
	 * the next: a pause or limit committed in between (then a run enqueued
	 * into that queue) is seen by reading them again, after the lock.
	 */
	if (id != 0)
		zj_claim_read_limits(&l);
	room = id != 0 && !zj_claim_array_has(l.blocked_queues, queue) &&
		!zj_claim_array_has(l.blocked_names, name) &&
		(!zj_claim_array_has(l.limited_queues, queue) || zj_claim_room(true, queue)) &&
		(!zj_claim_array_has(l.limited_names, name) || zj_claim_room(false, name));
	if (!room)
		zj_ratelimit_forget();
	zj_query_end();
	return id != 0 && !room ? -1 : id;
}

/* Does (priority, run_at, id) come after b in the queue's order? */
static bool
zj_claim_is_after(int32 priority, TimestampTz run_at, int64 id, const ZjRun *b)
{
	if (priority != b->priority)
		return priority > b->priority;
	if (run_at != b->run_at)
		return run_at > b->run_at;
	return id > b->id;
}

/*
 * Runs behind the worker's position are pending again (a batch released
 * them, a claim was rolled back): the next claim scans from the head (and
 * catches up, see zj_claim_head_took).  Others may still claim after this
 * position until their own next look at the head; a claim rolled back
 * for limits, or runs left for a restore, send every worker to the
 * limited claims, which start at the head anyway.
 */
void
zj_claim_rewind(void)
{
	zj_claim_has_position = false;
}

/*
 * Move position on to the furthest one published by the role's workers
 * whose rewind flag is not set (a commit made runs pending before theirs),
 * if it is further; true if it moved.
 */
static bool
zj_claim_furthest(ZjRun *position)
{
	Oid			role = zj_runctx_role();
	bool		moved = false;
	int			i;

	LWLockAcquire(zj_shared->lock, LW_SHARED);
	for (i = 0; i < zj_shared->nslots; i++)
	{
		ZjWorkerSlot *s = &zj_shared->slots[i];
		int64		id;

		if (s->state == ZJ_SLOT_FREE || !s->cursor_valid ||
			s->database != MyDatabaseId || s->role != role ||
			pg_atomic_read_u32(&s->rewind) != 0)
			continue;
		id = (int64) pg_atomic_read_u64(&s->cursor_id);
		if (zj_claim_is_after(s->cursor_priority, s->cursor_run_at, id, position))
		{
			position->priority = s->cursor_priority;
			position->run_at = s->cursor_run_at;
			position->id = id;
			moved = true;
		}
	}
	LWLockRelease(zj_shared->lock);
	return moved;
}

/*
 * The position to claim after, or NULL for the head (see the file
 * header): the furthest of its role's workers (zj_claim_furthest), so that
 * eight workers do not all step over each other's locked runs; its own
 * while it catches up (zj_claim_head_took).
 */
static const ZjRun *
zj_claim_after(void)
{
	TimestampTz now = GetCurrentTimestamp();
	uint32		flag = pg_atomic_read_u32(&zj_runctx_slot()->rewind);

	if (flag != 0 || now - zj_claim_head_at >= ZJ_REWIND_MS * 1000)
		zj_claim_has_position = false;
	if (!zj_claim_has_position)
	{
		zj_claim_head_at = now;
		zj_claim_flag_seen = flag;
		return NULL;
	}
	zj_claim_from = zj_claim_position;
	if (zj_claim_catching_up &&
		!zj_claim_is_after(zj_claim_catch_up.priority, zj_claim_catch_up.run_at,
						   zj_claim_catch_up.id, &zj_claim_position))
		zj_claim_catching_up = false;
	if (!zj_claim_catching_up)
		zj_claim_furthest(&zj_claim_from);
	return &zj_claim_from;
}

/*
 * The worker took run: its new position, published for committers and
 * for its role's other workers.
 */
static void
zj_claim_moved_to(const ZjRun *run)
{
	bool		same_place = zj_claim_has_position &&
		zj_claim_position.priority == run->priority &&
		zj_claim_position.run_at == run->run_at;

	zj_claim_position.id = run->id;
	zj_claim_position.priority = run->priority;
	zj_claim_position.run_at = run->run_at;
	zj_claim_has_position = true;
	if (same_place)
		zj_runctx_set_cursor_id(run->id);
	else
		zj_runctx_set_cursor(&zj_claim_position);
}

/*
 * A scan from the head took first to last (NULL: none).  If first lies
 * before the furthest position published for the role (its own last one
 * included), runs are pending behind that position: a batch's leftovers,
 * the rest of a batch whose worker exited or handed a run over to run
 * alone, a commit that raced a claim.  So the worker claims after its own
 * position until it is there, rather than after the furthest at once: one
 * sweep takes them all.  Then it lowers the rewind flag the look answered
 * (zj_claim_after): until its new position is published, the flag keeps
 * its old one from the others (zj_claim_furthest); a commit that raised
 * the flag again meanwhile keeps it raised, for another look.
 */
static void
zj_claim_head_took(const ZjRun *first, const ZjRun *last)
{
	uint32		seen = zj_claim_flag_seen;

	if (first != NULL)
	{
		zj_claim_catch_up = *first;
		zj_claim_catching_up = zj_claim_furthest(&zj_claim_catch_up);
		zj_claim_moved_to(last);
	}
	if (seen != 0)
		pg_atomic_compare_exchange_u32(&zj_runctx_slot()->rewind, &seen, 0);
	zj_claim_flag_seen = 0;
}

/* The next run after zj_claim_after's position, or from the head if none is after it. */
static ZjRun *
zj_claim_unlimited(Oid role, MemoryContext cxt)
{
	const ZjRun *after = zj_claim_after();
	ZjRun	   *run = zj_runstate_claim(role, 0, after, cxt);
	bool		from_head = after == NULL;

	if (run == NULL && after != NULL)
	{
		zj_claim_head_at = GetCurrentTimestamp();
		run = zj_runstate_claim(role, 0, NULL, cxt);
		from_head = true;
	}
	if (from_head)
		zj_claim_head_took(run, run);
	else if (run != NULL)
		zj_claim_moved_to(run);
	return run;
}

/*
 * Does the claim of run stand?  AGAIN when limits came meanwhile (the
 * caller rolls it back and claims again, under limits) or a restore began
 * (see restore.c).
 */
static ZjClaimResult
zj_claim_keep(const ZjRun *run, bool limited, bool no_restore, uint32 changes)
{
	if (run == NULL)
		return ZJ_CLAIM_NONE;
	if (!limited && zj_claim_limits_came(changes, run->queue, run->name))
		return ZJ_CLAIM_AGAIN;
	if (no_restore && !zj_restore_none())
		return ZJ_CLAIM_AGAIN;
	return ZJ_CLAIMED;
}

/*
 * Claim the next run of role (pending -> running), or (only_id != 0) that
 * very run if it is still pending.  The caller's transaction commits the
 * claim: a short one of its own, or a batch (see batch.c).  Under limits,
 * a run a batch left to run alone waits its turn too.
 */
ZjClaimResult
zj_claim_next(Oid role, int64 only_id, MemoryContext cxt, ZjRun **run)
{
	uint32		changes = zj_claim_changes();
	bool		limited = zj_claim_limits_active();
	bool		no_restore = zj_restore_none();

	ZjClaimResult result = ZJ_CLAIM_NONE;

	*run = NULL;
	zj_ratelimit_forget();		/* whatever a claim that failed left */
	/* A restore is loading the database: its runs start after it. */
	if (!no_restore && zj_restore_under_way())
		return ZJ_CLAIM_NONE;
	if (limited)
		only_id = zj_claim_limited_candidate(role);
	if (only_id < 0)
		result = ZJ_CLAIM_AGAIN;
	else if (!limited || only_id != 0)
	{
		*run = only_id != 0 ? zj_runstate_claim(role, only_id, NULL, cxt) :
			zj_claim_unlimited(role, cxt);
		result = zj_claim_keep(*run, limited, no_restore, changes);
	}
	/* Rolled back by the caller: the run is pending again, at our position. */
	if (result == ZJ_CLAIM_AGAIN && *run != NULL)
		zj_claim_rewind();
	/* A rate slot is taken only by a claim that stands (ratelimit.c). */
	if (result == ZJ_CLAIMED)
		zj_ratelimit_take((*run)->id);
	zj_ratelimit_forget();
	return result;
}

/*
 * The plan to lock up to n runs with: the one for LIMIT 2^slot, the
 * largest not above n.  The limit is written into each plan's text: with
 * "LIMIT $2" the plan cache either plans every call afresh (a custom plan
 * looks cheaper) or settles on a generic plan costed to fetch a tenth of
 * the table, which can be a sort of every pending run.
 */
static int
zj_claim_lock_slot(int n)
{
	int			slot = 0;

	while (slot + 1 < ZJ_LOCK_PLANS && (2 << slot) <= n)
		slot++;
	return slot;
}

/* The runs the locking SELECT returned, as a batch's. */
static List *
zj_claim_locked_runs(MemoryContext cxt)
{
	List	   *runs = NIL;
	uint64		i;

	for (i = 0; i < SPI_processed; i++)
	{
		ZjRun	   *run = zj_runstate_copy_run(SPI_tuptable->vals[i],
											   SPI_tuptable->tupdesc, cxt);
		MemoryContext old = MemoryContextSwitchTo(cxt);

		run->attempt++;
		run->locked = true;
		runs = lappend(runs, run);
		MemoryContextSwitchTo(old);
	}
	return runs;
}

/*
 * Leave out runs of queues and names limited now: the limits the runs
 * were locked under came from an older snapshot (see
 * zj_claim_limited_candidate).  Called under SPI: the list kept is built
 * in cxt, the runs' own context, since SPI_finish frees SPI's.
 */
static List *
zj_claim_drop_limited(List *runs, MemoryContext cxt)
{
	List	   *kept = NIL;
	ZjLimits	l;
	ListCell   *lc;
	MemoryContext spi;

	zj_claim_read_limits(&l);
	foreach(lc, runs)
	{
		ZjRun	   *run = lfirst(lc);

		if (zj_claim_array_has(l.limited_queues, run->queue) ||
			zj_claim_array_has(l.limited_names, run->name))
			continue;
		spi = MemoryContextSwitchTo(cxt);
		kept = lappend(kept, run);
		MemoryContextSwitchTo(spi);
	}
	return kept;
}

/* Ways to look for a batch's runs: from the head, after a position, under limits. */
typedef enum ZjLockFrom
{
	ZJ_LOCK_HEAD,
	ZJ_LOCK_AFTER,
	ZJ_LOCK_LIMITED
} ZjLockFrom;

static List *
zj_claim_lock_from(Oid role, int slot, ZjLockFrom from, const ZjRun *after,
				   MemoryContext cxt)
{
	static SPIPlanPtr plans[3][ZJ_LOCK_PLANS];
	static const char *const conds[3] = {"",
		" AND (r.priority, r.run_at, r.id) > ($2, $3, $4)",
	" AND r.queue <> ALL ($2) AND coalesce(r.name, '') <> ALL ($3)"};
	Oid			types[3][4] = {{REGROLEOID}, {REGROLEOID, INT4OID, TIMESTAMPTZOID, INT8OID},
	{REGROLEOID, TEXTARRAYOID, TEXTARRAYOID}};
	static const int nargs[3] = {1, 4, 3};
	SPIPlanPtr *plan = &plans[from][slot];
	Datum		values[4];
	ZjLimits	l;
	List	   *runs;

	values[0] = ObjectIdGetDatum(role);
	if (from == ZJ_LOCK_AFTER)
	{
		values[1] = Int32GetDatum(after->priority);
		values[2] = TimestampTzGetDatum(after->run_at);
		values[3] = Int64GetDatum(after->id);
	}
	zj_query_begin();
	if (from == ZJ_LOCK_LIMITED)
	{
		zj_claim_read_limits(&l);
		values[1] = l.limited_queues;
		values[2] = l.limited_names;
	}
	zj_query_exec(plan,
				  *plan ? NULL :
				  psprintf("SELECT " ZJ_RUN_COLUMNS
						   " FROM jobs.runs r WHERE r.status = 'pending' AND r.owner = $1%s"
						   " ORDER BY r.priority, r.run_at, r.id"
						   " LIMIT %d FOR NO KEY UPDATE SKIP LOCKED", conds[from], 1 << slot),
				  nargs[from], types[from], values, NULL);
	runs = zj_claim_locked_runs(cxt);
	if (from == ZJ_LOCK_LIMITED && runs != NIL)
		runs = zj_claim_drop_limited(runs, cxt);
	zj_query_end();
	return runs;
}

/*
 * Lock up to n pending runs of this role for a batch (batch.c) without
 * changing them: to everyone else they stay pending, skipped while locked,
 * until the batch commits their outcomes; the ones it does not get to are
 * released untouched at commit (the batch then calls zj_claim_rewind).
 * One index scan for the lot, after zj_claim_after's position; while limits
 * may exist, only runs under none of them.  Returns at most n runs: a
 * power of two of them (zj_claim_lock_slot).
 */
List *
zj_claim_lock_pending(Oid role, int n, MemoryContext cxt)
{
	int			slot = zj_claim_lock_slot(n);
	uint32		changes = zj_claim_changes();
	bool		no_restore = zj_restore_none();
	const ZjRun *after;
	List	   *runs;

	if (!no_restore && zj_restore_under_way())
		return NIL;
	if (zj_claim_limits_active())
		return zj_claim_lock_from(role, slot, ZJ_LOCK_LIMITED, NULL, cxt);
	runs = NIL;
	after = zj_claim_after();
	if (after != NULL)
		runs = zj_claim_lock_from(role, slot, ZJ_LOCK_AFTER, after, cxt);
	if (runs == NIL)
	{
		zj_claim_head_at = GetCurrentTimestamp();
		runs = zj_claim_lock_from(role, slot, ZJ_LOCK_HEAD, NULL, cxt);
		zj_claim_head_took(runs != NIL ? linitial(runs) : NULL,
						   runs != NIL ? llast(runs) : NULL);
	}
	else
		zj_claim_moved_to(llast(runs));
	/* A restore began meanwhile (see restore.c): leave them all locked. */
	if (runs != NIL && no_restore && !zj_restore_none())
	{
		zj_claim_rewind();
		return NIL;
	}
	/* Limits came meanwhile (see zj_claim_limits_came): leave their runs. */
	pg_memory_barrier();
	if (runs != NIL && zj_claim_changes() != changes)
	{
		zj_query_begin();
		runs = zj_claim_drop_limited(runs, cxt);
		zj_query_end();
	}
	return runs;
}

/*
 * Launcher: set the flag to whether limits exist.  A commit that adds one
 * bumps limits_changes before it raises the flag, so re-checking the
 * counter after lowering it catches a commit we raced with.
 */
void
zj_claim_limits_refresh(void)
{
	static SPIPlanPtr plan = NULL;
	uint32		changes = pg_atomic_read_u32(&zj_db->limits_changes);
	bool		any;
	bool		isnull;

	zj_query_begin();
	zj_query_exec(&plan,
				  "SELECT EXISTS (SELECT FROM jobs.queues u"
				  "  WHERE u.paused OR u.max_concurrency IS NOT NULL)"
				  " OR EXISTS (SELECT FROM jobs.job_limits)"
				  " OR EXISTS (SELECT FROM jobs.rate_limits)",
				  0, NULL, NULL, NULL);
	any = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
									 SPI_tuptable->tupdesc, 1, &isnull));
	zj_query_end();
	/* Rows written without our functions (a restore, say) count too. */
	if (any)
	{
		pg_atomic_write_u32(&zj_db->limits_active, 1);
		return;
	}
	pg_atomic_write_u32(&zj_db->limits_active, 0);
	pg_memory_barrier();
	if (pg_atomic_read_u32(&zj_db->limits_changes) != changes)
		pg_atomic_write_u32(&zj_db->limits_active, 1);
}

/*
 * Roles that own pending runs (a loose index scan over the claim index),
 * with how many each has that a worker may claim now (outside paused
 * queues and queues and names at their limit), counted up to cap.
 */
int
zj_claim_demand(Oid *roles, int *pending, int max, int cap)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[3] = {INT4OID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[3];
	int			n;
	int			i;

	values[0] = Int32GetDatum(cap);
	zj_claim_blocked(&values[1], &values[2]);
	zj_query_begin();
	n = zj_query_exec(&plan,
					  "WITH RECURSIVE o(owner) AS ("
					  " (SELECT owner FROM jobs.runs WHERE status = 'pending'"
					  "  ORDER BY owner LIMIT 1)"
					  " UNION ALL"
					  " SELECT (SELECT r.owner FROM jobs.runs r"
					  "  WHERE r.status = 'pending' AND r.owner > o.owner"
					  "  ORDER BY r.owner LIMIT 1) FROM o WHERE o.owner IS NOT NULL)"
					  " SELECT * FROM (SELECT o.owner::oid, (SELECT count(*)::int4 FROM"
					  "  (SELECT 1 FROM jobs.runs r WHERE r.status = 'pending'"
					  "   AND r.owner = o.owner AND r.queue <> ALL ($2)"
					  "   AND coalesce(r.name, '') <> ALL ($3)"
					  "   LIMIT $1) c) AS n"
					  " FROM o WHERE o.owner IS NOT NULL) d WHERE d.n > 0",
					  3, types, values, NULL);
	n = Min(n, max);
	for (i = 0; i < n; i++)
	{
		roles[i] = zj_query_oid(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		pending[i] = zj_query_int4(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
	zj_query_end();
	return n;
}
