/*-------------------------------------------------------------------------
 *
 * runstate_deps.c
 *	  The state changes that follow the dependency graph (depends_on): a
 *	  run enqueued with parents, released when its last parent resolves,
 *	  cancelled when one does not complete (runstate_retry.c revives them
 *	  when that one is retried).  Part of the run-state module: the
 *	  transitions and their guard are in runstate.c's table
 *	  (runstate_internal.h).
 *
 *	  A waiting run counts its unresolved parents (waiting_for); the
 *	  transaction that finishes a parent decrements its waiting children
 *	  and makes those at zero pending, so they start as any new run does.
 *	  Races between an enqueue and the end of a parent are closed by row
 *	  locks: the enqueue locks each parent, counts the parents in the
 *	  latest snapshot and marks them (has_dependents); the end of a
 *	  parent updates its row, reads has_dependents from it, and looks for
 *	  children in the latest snapshot.  Whichever comes second sees the
 *	  other's commit.  Children are locked in id order, so transactions
 *	  ending parents of one child take turns instead of deadlocking.
 *
 *	  Edges that someone else wrote (a restore loads jobs.runs, commits,
 *	  then jobs.dependencies) may arrive after a parent ended: nobody
 *	  settled them.  zj_runstate_recount_waiting counts the parents of
 *	  such waiting runs again, when a restore loaded edges and when the
 *	  launcher starts serving (restore.c, reaper.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "query.h"
#include "runstate_internal.h"
#include "wakeup.h"


/* ---------------------------------------------------------------------
 * Enqueue with parents
 * ---------------------------------------------------------------------
 */

/* The run's parents as an int8[]. */
static Datum
zj_runstate_parents_array(const ZjNewRun *run)
{
	Datum	   *d = palloc(Max(run->nparents, 1) * sizeof(Datum));
	int			i;

	for (i = 0; i < run->nparents; i++)
		d[i] = Int64GetDatum(run->parents[i]);
	return zj_query_array(d, NULL, run->nparents, INT8OID);
}

/* The first parent that is missing or not the caller's to see (an error). */
static void
zj_runstate_refuse_parent(Datum parents, int64 hidden)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {INT8ARRAYOID};
	Datum		values[1] = {parents};
	int64		missing;

	zj_query_exec(&plan,
				  "SELECT min(x) FROM pg_catalog.unnest($1) AS x WHERE NOT EXISTS"
				  " (SELECT FROM jobs.runs p WHERE p.id = x)",
				  1, types, values, NULL);
	missing = zj_query_int8(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (missing != 0 && (hidden == 0 || missing < hidden))
		hidden = missing;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("run " INT64_FORMAT " cannot be a parent: it does not exist or is not visible to you",
					hidden),
			 errhint("A run may only wait for runs of roles you are a member of.")));
}

/*
 * Lock the run's parents, in id order, count them in the latest snapshot
 * and mark them: how many have not finished, and whether one has failed
 * already (then, unless the run is to run anyway, it is cancelled at
 * birth, blaming that parent's culprit).  A run without a workflow joins
 * its parents' if they all have the same one.
 */
static void
zj_runstate_lock_parents(ZjNewRun *run, MemoryContext caller)
{
	static SPIPlanPtr mark = NULL;
	static SPIPlanPtr count = NULL;
	Oid			types[3] = {INT8ARRAYOID, OIDOID, BOOLOID};
	Datum		values[3];
	HeapTuple	tup;
	TupleDesc	desc;
	Datum		parents[1];

	parents[0] = zj_runstate_parents_array(run);
	values[0] = parents[0];
	values[1] = ObjectIdGetDatum(run->owner);
	values[2] = BoolGetDatum(run->run_on_parent_failure);
	/*
	 * One lock, strong enough to mark the row, taken in id order: the end
	 * of a parent locks only runs after it (its descendants), so an enqueue
	 * waiting for a parent holds none of those.
	 */
	zj_query_exec_latest(&count,
						 "SELECT count(*)::int4,"
						 " min(s.id) FILTER (WHERE NOT pg_catalog.pg_has_role($2, s.owner, 'MEMBER')),"
						 " (count(*) FILTER (WHERE s.status NOT IN " ZJ_FINISHED "))::int4,"
						 " min(s.id) FILTER (WHERE " ZJ_BLOCKS("s", "$3") "),"
						 " min(coalesce(s.cancelled_by, s.id)) FILTER (WHERE " ZJ_BLOCKS("s", "$3") "),"
						 " min(s.workflow), max(s.workflow), count(s.workflow)::int4,"
						 " (pg_catalog.array_agg(s.status ORDER BY s.id)"
						 "  FILTER (WHERE " ZJ_BLOCKS("s", "$3") "))[1] = 'failed'"
						 " FROM (SELECT p.id, p.owner, p.status, p.cancelled_by, p.workflow,"
						 "  p.cancel_requested"
						 "  FROM jobs.runs p WHERE p.id = ANY ($1) ORDER BY p.id"
						 "  FOR NO KEY UPDATE) s",
						 3, types, values, NULL);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	if (zj_query_int4(tup, desc, 1) != run->nparents || zj_query_int8(tup, desc, 2) != 0)
		zj_runstate_refuse_parent(parents[0], zj_query_int8(tup, desc, 2));
	run->waiting_for = zj_query_int4(tup, desc, 3);
	run->failed_parent = zj_query_int8(tup, desc, 4);
	run->cancelled_by = zj_query_int8(tup, desc, 5);
	run->parent_failed = zj_query_bool(tup, desc, 9);
	if (run->workflow == NULL && zj_query_int4(tup, desc, 8) == run->nparents &&
		strcmp(zj_query_text(tup, desc, 6), zj_query_text(tup, desc, 7)) == 0)
		run->workflow = MemoryContextStrdup(caller, zj_query_text(tup, desc, 6));
	zj_query_exec_latest(&mark,
						 "UPDATE jobs.runs AS p SET has_dependents = true"
						 " WHERE p.id = ANY ($1) AND NOT p.has_dependents",
						 1, types, values, NULL);
}

/* The edges from each of the new runs to each of their parents. */
static void
zj_runstate_add_edges(const ZjNewRun *run, Datum ids)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {INT8ARRAYOID, INT8ARRAYOID};
	Datum		values[2];

	values[0] = ids;
	values[1] = zj_runstate_parents_array(run);
	zj_query_exec(&plan,
				  "INSERT INTO jobs.dependencies (run_id, parent_id)"
				  " SELECT c, p FROM pg_catalog.unnest($1) AS c, pg_catalog.unnest($2) AS p",
				  2, types, values, NULL);
}

/*
 * enqueue: insert a run, waiting for its parents if it has any; returns
 * its id (or the id of the unfinished run with its dedupe_key).
 */
int64
zj_runstate_enqueue(ZjNewRun *run)
{
	MemoryContext caller = CurrentMemoryContext;
	int64		id;
	bool		inserted;
	Datum		d;

	if (run->nparents == 0)
		return zj_runstate_insert(run, NULL);
	zj_query_begin();
	zj_runstate_lock_parents(run, caller);
	zj_query_end();
	id = zj_runstate_insert(run, &inserted);
	if (!inserted)
		return id;
	d = Int64GetDatum(id);
	zj_query_begin();
	zj_runstate_add_edges(run, zj_query_array(&d, NULL, 1, INT8OID));
	zj_query_end();
	return id;
}

/* enqueue_many: likewise, every run with the same parents. */
ArrayType *
zj_runstate_enqueue_many(ZjNewRun *run, ArrayType *inputs)
{
	MemoryContext caller = CurrentMemoryContext;
	ArrayType  *ids;

	if (run->nparents == 0)
		return zj_runstate_insert_many(run, inputs);
	zj_query_begin();
	zj_runstate_lock_parents(run, caller);
	zj_query_end();
	ids = zj_runstate_insert_many(run, inputs);
	zj_query_begin();
	zj_runstate_add_edges(run, PointerGetDatum(ids));
	zj_query_end();
	return ids;
}

/* ---------------------------------------------------------------------
 * Parents that finished: release or cancel their children
 * ---------------------------------------------------------------------
 */

/*
 * The parents (an int8[]) of the runs ids, or 0 if none.  Statements here
 * take runs by such an array ("id = ANY"), which the primary key returns
 * in id order with no sort, never as "id IN (subquery)": with sorts ruled
 * out (query.c), that becomes a scan of every run of the status, each
 * checked against the subquery's rows.
 */
Datum
zj_runstate_parents_of(Datum ids)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {INT8ARRAYOID};
	Datum		parents;
	bool		none;

	zj_query_exec_latest(&plan,
						 "SELECT pg_catalog.array_agg(d.parent_id) FROM jobs.dependencies d"
						 " WHERE d.run_id = ANY ($1)",
						 1, types, &ids, NULL);
	parents = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &none);
	return none ? (Datum) 0 : parents;
}

/*
 * The children of finished parents: every child once (sorted, to lock
 * them in id order), and grouped by how many of those parents each has,
 * so that each group's update subtracts one constant.  Counted here from
 * the edges (the parents' index finds them): in SQL that needs a join of
 * the children with their counts, which without hash joins becomes a
 * nested loop over one side whenever the statistics are stale.
 */
typedef struct ZjChildren
{
	Datum		all;			/* int8[], sorted, distinct; 0 if none */
	int			ngroups;
	int32	   *count;			/* group i: count[i] of the parents... */
	Datum	   *ids;			/* ...is what each of ids[i] (int8[]) has */
} ZjChildren;

static int
zj_runstate_cmp_datum(const void *a, const void *b)
{
	int64		x = DatumGetInt64(*(const Datum *) a);
	int64		y = DatumGetInt64(*(const Datum *) b);

	return x < y ? -1 : x > y;
}

/* Group the sorted edge ends e[0..n) into c (see ZjChildren). */
static void
zj_runstate_group_children(Datum *e, int n, ZjChildren *c)
{
	Datum	   *distinct = palloc(n * sizeof(Datum));
	int32	   *times = palloc(n * sizeof(int32));
	int			nd = 0;
	int			i;
	int			g;

	for (i = 0; i < n; i++)
	{
		if (nd > 0 && distinct[nd - 1] == e[i])
			times[nd - 1]++;
		else
		{
			distinct[nd] = e[i];
			times[nd++] = 1;
		}
	}
	c->all = zj_query_array(distinct, NULL, nd, INT8OID);
	c->count = palloc(nd * sizeof(int32));
	c->ids = palloc(nd * sizeof(Datum));
	c->ngroups = 0;
	for (i = 0; i < nd; i++)
	{
		Datum	   *members;
		int			m = 0;
		int			j;

		for (g = 0; g < c->ngroups && c->count[g] != times[i]; g++)
			;
		if (g < c->ngroups)
			continue;			/* grouped with an earlier child */
		members = palloc((nd - i) * sizeof(Datum));
		for (j = i; j < nd; j++)
			if (times[j] == times[i])
				members[m++] = distinct[j];
		c->count[c->ngroups] = times[i];
		c->ids[c->ngroups++] = zj_query_array(members, NULL, m, INT8OID);
	}
}

/*
 * Find and lock the waiting children of parents, in id order (see the
 * header); false if there are none.
 */
static bool
zj_runstate_lock_children(Datum parents, ZjChildren *c)
{
	static SPIPlanPtr edges = NULL;
	static SPIPlanPtr lock = NULL;
	Oid			types[1] = {INT8ARRAYOID};
	Datum	   *e;
	uint64		i;
	int			n;

	n = zj_query_exec_latest(&edges,
							 "SELECT d.run_id FROM jobs.dependencies d WHERE d.parent_id = ANY ($1)",
							 1, types, &parents, NULL);
	if (n == 0)
		return false;
	e = palloc(n * sizeof(Datum));
	for (i = 0; i < (uint64) n; i++)
		e[i] = Int64GetDatum(zj_query_int8(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	qsort(e, n, sizeof(Datum), zj_runstate_cmp_datum);
	zj_runstate_group_children(e, n, c);
	zj_query_exec_latest(&lock,
						 "SELECT FROM jobs.runs c WHERE c.id = ANY ($1) AND c.status = 'waiting'"
						 " ORDER BY c.id FOR NO KEY UPDATE",
						 1, types, &c->all, NULL);
	return true;
}

/*
 * About waiting child r and the parents $1 that did not complete: whether
 * a user cancelled one, the first of them, and the run to blame.
 * Subqueries of r's row (found by the primary key of the edges), not a
 * join (see ZjChildren).  Only for parents that failed or were cancelled.
 */
#define ZJ_EDGES_DONE \
	" FROM jobs.dependencies d WHERE d.run_id = r.id AND d.parent_id = ANY ($1)"
#define ZJ_DONE_EXPLICIT \
	"EXISTS (SELECT FROM jobs.dependencies d JOIN jobs.runs p ON p.id = d.parent_id" \
	" WHERE d.run_id = r.id AND d.parent_id = ANY ($1) AND p.cancel_requested)"
#define ZJ_DONE_FIRST "(SELECT min(d.parent_id)" ZJ_EDGES_DONE ")"
#define ZJ_DONE_CAUSE \
	"(SELECT min(coalesce(p.cancelled_by, p.id)) FROM jobs.dependencies d" \
	" JOIN jobs.runs p ON p.id = d.parent_id WHERE d.run_id = r.id AND d.parent_id = ANY ($1))"

/*
 * Record the events of the rows a release or revival returned
 * (ZJ_EVENT_COLUMNS, owner, priority), but of runs still waiting, and the
 * wake-ups that runs now pending or scheduled need at commit.
 */
void
zj_runstate_record_ready(ZjTransition t)
{
	uint64		i;

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		const char *status = zj_query_text(tup, desc, 2);

		if (strcmp(status, "waiting") == 0 && t == ZJ_TR_RELEASE)
			continue;
		zj_runstate_record(t, tup, desc, 1);
		if (strcmp(status, "pending") == 0)
			zj_wakeup_note_enqueue(zj_query_oid(tup, desc, ZJ_EVENT_NCOLS + 1), 1,
								   zj_query_int4(tup, desc, ZJ_EVENT_NCOLS + 2),
								   zj_query_time(tup, desc, 7));
		else if (strcmp(status, "scheduled") == 0)
			zj_wakeup_note_scheduled(zj_query_time(tup, desc, 7));
	}
}

/*
 * count parents fewer to wait for, for the waiting children ids (of those
 * that run whatever their parents did, with failed_only); those at zero
 * become pending (or scheduled, if due later).
 */
static void
zj_runstate_release(Datum parents, Datum ids, int32 count, bool failed_only)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[5] = {INT8ARRAYOID, TIMESTAMPTZOID, BOOLOID, INT8ARRAYOID, INT4OID};
	Datum		values[5];

	values[0] = parents;
	values[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[2] = BoolGetDatum(failed_only);
	values[3] = ids;
	values[4] = Int32GetDatum(count);
	zj_query_exec_latest(&plan,
						 zj_runstate_sql(plan,
										 "UPDATE jobs.runs AS r"
										 " SET waiting_for = greatest(r.waiting_for - $5, 0),"
										 " status = CASE WHEN r.waiting_for > $5 THEN 'waiting'"
										 "  WHEN r.run_at > $2 THEN 'scheduled' ELSE 'pending' END"
										 " WHERE r.id = ANY ($4) AND %s AND (NOT $3"
										 "  OR (r.on_parent_failure = 'run' AND NOT " ZJ_DONE_EXPLICIT "))"
										 " RETURNING " ZJ_EVENT_COLUMNS ", r.owner, r.priority",
										 ZJ_TR_RELEASE, "r", true),
						 5, types, values, NULL);
	zj_runstate_record_ready(ZJ_TR_RELEASE);
}

/*
 * Cancel the waiting children of parents that did not complete: all of
 * them if a user cancelled a parent (jobs.cancel cancels what waits for
 * it), else those that do not run anyway.  Returns their ids, an int8[]
 * (0 for none): the next generation to cancel the children of.
 */
static Datum
zj_runstate_cancel_children(Datum parents, Datum children)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[3] = {INT8ARRAYOID, TIMESTAMPTZOID, INT8ARRAYOID};
	Datum		values[3];
	Datum	   *ids;
	uint64		i;

	values[0] = parents;
	values[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[2] = children;
	if (zj_query_exec_latest(&plan,
							 zj_runstate_sql(plan,
											 "UPDATE jobs.runs AS r SET status = 'cancelled',"
											 " finished_at = $2, cancel_requested = " ZJ_DONE_EXPLICIT ","
											 " cancelled_by = " ZJ_DONE_CAUSE ","
											 " error_message = " ZJ_PARENT_REASON(ZJ_DONE_FIRST)
											 " WHERE r.id = ANY ($3) AND %s AND"
											 " (r.on_parent_failure IS DISTINCT FROM 'run' OR " ZJ_DONE_EXPLICIT ")"
											 " RETURNING " ZJ_EVENT_COLUMNS,
											 ZJ_TR_CANCEL_DEPENDENT, "r", true),
							 3, types, values, NULL) == 0)
		return (Datum) 0;
	zj_runstate_record_all(ZJ_TR_CANCEL_DEPENDENT);
	ids = palloc(SPI_processed * sizeof(Datum));
	for (i = 0; i < SPI_processed; i++)
		ids[i] = Int64GetDatum(zj_query_int8(SPI_tuptable->vals[i],
											 SPI_tuptable->tupdesc, 1));
	return zj_query_array(ids, NULL, (int) SPI_processed, INT8OID);
}

/*
 * Parents (an int8[]) reached a final state in this transaction, all
 * completed, or none: settle the runs that wait for them, and for runs
 * cancelled so, what waits for those, generation after generation.
 */
void
zj_runstate_settle(ArrayType *parents, bool completed)
{
	Datum		generation = PointerGetDatum(parents);
	ZjChildren	c;
	int			g;

	zj_query_begin();
	while (generation != (Datum) 0 && zj_runstate_lock_children(generation, &c))
	{
		CHECK_FOR_INTERRUPTS();
		for (g = 0; g < c.ngroups; g++)
			zj_runstate_release(generation, c.ids[g], c.count[g], !completed);
		generation = completed ? (Datum) 0 :
			zj_runstate_cancel_children(generation, c.all);
	}
	zj_query_end();
}

/* zj_runstate_settle for one run. */
void
zj_runstate_settle_one(int64 id, bool completed)
{
	Datum		d = Int64GetDatum(id);

	zj_runstate_settle(DatumGetArrayTypeP(zj_query_array(&d, NULL, 1, INT8OID)),
					   completed);
}

/* ---------------------------------------------------------------------
 * Waiting runs counted again
 * ---------------------------------------------------------------------
 */

/* Waiting run r's parents that have not finished, by its edges. */
#define ZJ_UNFINISHED_PARENTS \
	"(SELECT count(*)::int4 FROM jobs.dependencies d JOIN jobs.runs p ON p.id = d.parent_id" \
	" WHERE d.run_id = r.id AND p.status NOT IN " ZJ_FINISHED ")"
/* ...and whether one of them keeps it from running. */
#define ZJ_BLOCKED \
	"EXISTS (SELECT FROM jobs.dependencies d JOIN jobs.runs p ON p.id = d.parent_id" \
	" WHERE d.run_id = r.id AND " \
	ZJ_BLOCKS("p", "coalesce(r.on_parent_failure = 'run', false)") ")"

/*
 * The waiting runs (an int8[], sorted; 0 if none) that their edges say
 * otherwise about: waiting_for is not the number of their parents that
 * have not finished, or a parent keeps them from running.  Runs without
 * edges are left alone: theirs are still to come (a restore loads the
 * edges after the runs).
 */
static Datum
zj_runstate_stranded(void)
{
	static SPIPlanPtr plan = NULL;
	bool		none;
	Datum		ids;

	zj_query_exec_latest(&plan,
						 "SELECT pg_catalog.array_agg(r.id ORDER BY r.id) FROM jobs.runs r"
						 " WHERE r.status = 'waiting'"
						 " AND EXISTS (SELECT FROM jobs.dependencies e WHERE e.run_id = r.id)"
						 " AND (r.waiting_for <> " ZJ_UNFINISHED_PARENTS " OR " ZJ_BLOCKED ")",
						 0, NULL, NULL, NULL);
	ids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &none);
	return none ? (Datum) 0 : ids;
}

/*
 * Lock the runs ids and their parents, in id order, as the end of a
 * parent locks its row and then its children: an end under way commits
 * first, and one to come waits for us.  Then, in the latest snapshot,
 * the parents that failed or were cancelled (*failed) and the runs of ids
 * that wait for one of them (*blocked), each an int8[] or 0.
 */
static void
zj_runstate_lock_stranded(Datum ids, Datum parents, Datum *failed, Datum *blocked)
{
	static SPIPlanPtr lock = NULL;
	static SPIPlanPtr read = NULL;
	Oid			types[2] = {INT8ARRAYOID, INT8ARRAYOID};
	Datum		values[2] = {ids, parents};
	bool		none;

	zj_query_exec_latest(&lock,
						 "SELECT FROM jobs.runs x WHERE x.id = ANY (pg_catalog.array_cat($1, $2))"
						 " ORDER BY x.id FOR NO KEY UPDATE",
						 2, types, values, NULL);
	zj_query_exec_latest(&read,
						 "SELECT f.ids, (SELECT pg_catalog.array_agg(DISTINCT d.run_id ORDER BY d.run_id)"
						 "  FROM jobs.dependencies d WHERE d.run_id = ANY ($1) AND d.parent_id = ANY (f.ids))"
						 " FROM (SELECT pg_catalog.array_agg(p.id ORDER BY p.id) AS ids FROM jobs.runs p"
						 "  WHERE p.id = ANY ($2) AND p.status IN ('failed', 'cancelled')) f",
						 2, types, values, NULL);
	*failed = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &none);
	if (none)
		*failed = (Datum) 0;
	*blocked = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &none);
	if (none)
		*blocked = (Datum) 0;
}

/*
 * The runs of ids still waiting wait for as many parents as have not
 * finished; those at zero become pending (or scheduled).  Returns how
 * many changed.
 */
static int
zj_runstate_recount(Datum ids)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {INT8ARRAYOID, TIMESTAMPTZOID};
	Datum		values[2];
	int			n;

	values[0] = ids;
	values[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	n = zj_query_exec_latest(&plan,
							 zj_runstate_sql(plan,
											 "UPDATE jobs.runs AS r SET waiting_for = " ZJ_UNFINISHED_PARENTS ","
											 " status = CASE WHEN " ZJ_UNFINISHED_PARENTS " > 0 THEN 'waiting'"
											 "  WHEN r.run_at > $2 THEN 'scheduled' ELSE 'pending' END"
											 " WHERE r.id = ANY ($1) AND %s"
											 " AND r.waiting_for <> " ZJ_UNFINISHED_PARENTS
											 " RETURNING " ZJ_EVENT_COLUMNS ", r.owner, r.priority",
											 ZJ_TR_RELEASE, "r", true),
							 2, types, values, NULL);
	zj_runstate_record_ready(ZJ_TR_RELEASE);
	return n;
}

/*
 * Waiting runs whose parents ended while their edges were not there to
 * be found (a restore loads runs, commits, and loads the edges after; the
 * launcher may run a parent meanwhile): each waits again for exactly its
 * parents that have not finished, and is released, or cancelled if one of
 * them failed (and what waits for it settled), as the ends of those
 * parents would have done.  Nothing changes for runs that agree with
 * their edges, and a run whose edges are not there yet is left alone.
 * Returns how many runs changed.
 */
int
zj_runstate_recount_waiting(void)
{
	MemoryContext caller = CurrentMemoryContext;
	ArrayType  *cancelled = NULL;
	Datum		ids;
	Datum		parents;
	Datum		failed;
	Datum		blocked;
	Datum		next = (Datum) 0;
	int			n = 0;

	zj_query_begin();
	ids = zj_runstate_stranded();
	parents = ids != (Datum) 0 ? zj_runstate_parents_of(ids) : (Datum) 0;
	if (parents != (Datum) 0)
	{
		zj_runstate_lock_stranded(ids, parents, &failed, &blocked);
		if (blocked != (Datum) 0)
			next = zj_runstate_cancel_children(failed, blocked);
		if (next != (Datum) 0)
		{
			/* What waits for those is settled after our statements. */
			MemoryContext old = MemoryContextSwitchTo(caller);

			cancelled = DatumGetArrayTypePCopy(next);
			MemoryContextSwitchTo(old);
			n = ArrayGetNItems(ARR_NDIM(cancelled), ARR_DIMS(cancelled));
		}
		n += zj_runstate_recount(ids);
	}
	zj_query_end();
	if (cancelled != NULL)
		zj_runstate_settle(cancelled, false);
	return n;
}
