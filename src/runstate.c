/*-------------------------------------------------------------------------
 *
 * runstate.c
 *	  Every change of a run's state, and nothing else: each INSERT of a
 *	  run, each UPDATE of its status and the event recorded with it.  The
 *	  transitions are written down once, in zj_runstate_rules: from which
 *	  states each may start and to which it may lead.  The status tests in
 *	  the statements' WHERE clauses are generated from that table, and
 *	  every row a statement changed is checked against it before its event
 *	  is recorded.  The README's state diagram shows the same table.
 *
 *	  Here: the table and its guard, enqueue, the launcher's transitions
 *	  and jobs.cancel/retry's; runstate_attempt.c has a worker's.
 *
 *	  Who decides is elsewhere: claim.c picks the run to claim, failure.c
 *	  what becomes of an attempt that did not complete, reaper.c which
 *	  attempts lost their worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "events.h"
#include "query.h"
#include "runinsert.h"
#include "runstate.h"
#include "runstate_internal.h"
#include "shmem.h"
#include "wakeup.h"

static const char *const zj_runstate_names[ZJ_RUN_NSTATUS] = {
	[ZJ_RUN_SCHEDULED] = "scheduled",
	[ZJ_RUN_PENDING] = "pending",
	[ZJ_RUN_RUNNING] = "running",
	[ZJ_RUN_COMPLETED] = "completed",
	[ZJ_RUN_FAILED] = "failed",
	[ZJ_RUN_CANCELLED] = "cancelled",
	[ZJ_RUN_AWAITING_RETRY] = "awaiting_retry",
	[ZJ_RUN_WAITING] = "waiting",
};

const ZjTransitionRule zj_runstate_rules[ZJ_TR_COUNT] = {
	/* waiting for parents; cancelled at once if one of them failed */
	[ZJ_TR_ENQUEUE] = {"enqueue", 0, S(SCHEDULED) | S(PENDING) | S(WAITING) | S(CANCELLED)},
	/* the last parent resolved (runstate_deps.c, as the rest of this block) */
	[ZJ_TR_RELEASE] = {"release", S(WAITING), S(PENDING) | S(SCHEDULED)},
	[ZJ_TR_CANCEL_DEPENDENT] = {"cancel a dependent", S(WAITING), S(CANCELLED)},
	/* jobs.retry of the run that cancelled it */
	[ZJ_TR_REVIVE] = {"revive a dependent", S(CANCELLED), S(WAITING) | S(PENDING) | S(SCHEDULED)},
	[ZJ_TR_PROMOTE] = {"promote", S(SCHEDULED) | S(AWAITING_RETRY), S(PENDING)},
	[ZJ_TR_CLAIM] = {"claim", S(PENDING), S(RUNNING)},
	[ZJ_TR_COMPLETE] = {"complete", S(RUNNING), S(COMPLETED)},
	/* a batch's run, locked while pending, is written once, finished */
	[ZJ_TR_COMPLETE_LOCKED] = {"complete a batch's run", S(PENDING), S(COMPLETED)},
	[ZJ_TR_END_ATTEMPT] = {"end an attempt", S(RUNNING), S(AWAITING_RETRY) | S(FAILED) | S(CANCELLED)},
	[ZJ_TR_END_LOCKED] = {"end a batch's attempt", S(PENDING), S(AWAITING_RETRY) | S(FAILED) | S(CANCELLED)},
	/* a clean shutdown interrupted it: the attempt does not count */
	[ZJ_TR_REQUEUE] = {"requeue", S(RUNNING), S(PENDING)},
	/* no worker can log in as the owner */
	[ZJ_TR_FAIL_UNSERVED] = {"fail an unserved run", S(PENDING), S(FAILED)},
	/* a running run is only marked: its worker ends the attempt */
	[ZJ_TR_CANCEL] = {"cancel", S(WAITING) | S(SCHEDULED) | S(PENDING) | S(AWAITING_RETRY) | S(RUNNING), S(CANCELLED) | S(RUNNING)},
	[ZJ_TR_RETRY] = {"retry", S(FAILED) | S(CANCELLED), S(PENDING) | S(WAITING)},
};

const char *
zj_runstate_name(ZjRunStatus status)
{
	return zj_runstate_names[status];
}

ZjRunStatus
zj_runstate_from_name(const char *name)
{
	int			i;

	for (i = 0; i < ZJ_RUN_NSTATUS; i++)
		if (strcmp(zj_runstate_names[i], name) == 0)
			return (ZjRunStatus) i;
	elog(ERROR, "unknown zapjobs run status \"%s\"", name);
	return ZJ_RUN_FAILED;		/* keep compiler quiet */
}

bool
zj_runstate_is_final(ZjRunStatus status)
{
	return status == ZJ_RUN_COMPLETED || status == ZJ_RUN_FAILED ||
		status == ZJ_RUN_CANCELLED;
}

/*
 * The guard: transition t led a run to state to.  Where it started is
 * guarded by the statement itself (its status test comes from the table)
 * or, for the end of an attempt, by the row read under lock.
 */
void
zj_runstate_check(ZjTransition t, ZjRunStatus to)
{
	const ZjTransitionRule *rule = &zj_runstate_rules[t];

	if ((rule->to & (1U << to)) == 0)
		elog(ERROR, "zapjobs cannot %s a run into state %s",
			 rule->what, zj_runstate_names[to]);
}

/*
 * The status test of transition t for the run aliased alias, from the
 * table: "r.status = 'pending'" or "r.status IN ('scheduled', ...)".  A
 * partial index on the status can serve a scan with it.  by_id: the run is
 * looked up by id; if it may be pending, the test is written so that it
 * cannot prove the claim index's predicate (another collation; the same
 * result for these ASCII words): with statistics from a moment the table
 * was empty, the planner would otherwise pick that index with id as a
 * non-leading key and walk all of it, instead of the primary key.
 */
char *
zj_runstate_where(ZjTransition t, const char *alias, bool by_id)
{
	StringInfoData buf;
	int			i;
	int			n = 0;
	bool		collate = by_id && (zj_runstate_rules[t].from & S(PENDING)) != 0;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s.status%s IN (", alias,
					 collate ? " COLLATE \"C\"" : "");
	for (i = 0; i < ZJ_RUN_NSTATUS; i++)
		if (zj_runstate_rules[t].from & (1U << i))
			appendStringInfo(&buf, "%s'%s'", n++ ? ", " : "", zj_runstate_names[i]);
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * The statement of a plan prepared on first use: sql, with %s replaced by
 * the status tests of t (see zj_runstate_where), NULL once prepared.
 */
char *
zj_runstate_sql(SPIPlanPtr plan, const char *sql, ZjTransition t,
				const char *alias, bool by_id)
{
	if (plan != NULL)
		return NULL;
	return psprintf(sql, zj_runstate_where(t, alias, by_id));
}

/*
 * Check and record the event of a row a transition returned
 * (ZJ_EVENT_COLUMNS from column first).
 */
void
zj_runstate_record(ZjTransition t, HeapTuple tup, TupleDesc desc, int first)
{
	ZjRunStatus to = zj_runstate_from_name(zj_query_text(tup, desc, first + 1));
	ZjRunEvent	ev;

	zj_runstate_check(t, to);
	zj_events_fill(&ev, zj_query_int8(tup, desc, first), to,
				   zj_query_int4(tup, desc, first + 2),
				   zj_query_int4(tup, desc, first + 3),
				   zj_query_text(tup, desc, first + 4),
				   zj_query_text(tup, desc, first + 5),
				   zj_query_time(tup, desc, first + 6),
				   zj_query_time(tup, desc, first + 7),
				   zj_query_time(tup, desc, first + 8),
				   zj_query_text(tup, desc, first + 9),
				   zj_query_text(tup, desc, first + 10));
	zj_events_add(&ev);
}

/* zj_runstate_record for every row the statement returned. */
void
zj_runstate_record_all(ZjTransition t)
{
	uint64		i;

	for (i = 0; i < SPI_processed; i++)
		zj_runstate_record(t, SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
}

/*
 * The change to running of a run a batch locked and finished at once: it
 * went straight past that state, but listeners see every run start.
 */
void
zj_runstate_record_running(HeapTuple tup, TupleDesc desc)
{
	ZjRunEvent	ev;

	zj_events_fill(&ev, zj_query_int8(tup, desc, 1), ZJ_RUN_RUNNING,
				   zj_query_int4(tup, desc, 3),
				   zj_query_int4(tup, desc, 4),
				   zj_query_text(tup, desc, 5),
				   zj_query_text(tup, desc, 6),
				   zj_query_time(tup, desc, 7),
				   zj_query_time(tup, desc, 8),
				   0, NULL, zj_query_text(tup, desc, 11));
	zj_events_add(&ev);
}

/* ---------------------------------------------------------------------
 * enqueue: new runs, scheduled or pending
 * ---------------------------------------------------------------------
 */

/*
 * The parameters of the INSERT of a new run, and its columns but one
 * (dedupe_key, $16).  A run cancelled at birth (its parent failed) is
 * finished at once, with the reason.
 */
#define ZJ_INSERT_NARGS 21
#define ZJ_INSERT_INTO \
	"INSERT INTO jobs.runs AS r (name, kind, command, queue, priority," \
	" status, owner, input, search_path, run_at, max_attempts, timeout," \
	" retry_base, retry_factor, retry_max_delay, workflow, waiting_for," \
	" on_parent_failure, cancelled_by, finished_at, error_message"
#define ZJ_INSERT_MORE \
	" $17, $18, $19, $20," \
	" CASE WHEN $20 IS NOT NULL THEN pg_catalog.clock_timestamp() END," \
	" $21"
#define ZJ_INSERT_TYPES \
	TEXTOID, TEXTOID, INT4OID, TEXTOID, INT8OID, TEXTOID
static void
zj_runstate_insert_params(const ZjNewRun *run, ZjRunStatus status,
						  Datum *values, char *nulls)
{
	zj_runstate_check(ZJ_TR_ENQUEUE, status);
	memset(nulls, ' ', ZJ_INSERT_NARGS);
	ZJ_TEXT_PARAM(values, nulls, 0, run->name);
	values[1] = CStringGetTextDatum(run->kind);
	values[2] = CStringGetTextDatum(run->command);
	values[3] = CStringGetTextDatum(run->queue);
	values[4] = Int32GetDatum(run->priority);
	values[5] = CStringGetTextDatum(zj_runstate_names[status]);
	values[6] = ObjectIdGetDatum(run->owner);
	values[7] = run->input ? JsonbPGetDatum(run->input) : (Datum) 0;
	nulls[7] = run->input ? ' ' : 'n';
	ZJ_TEXT_PARAM(values, nulls, 8, run->search_path);
	values[9] = TimestampTzGetDatum(run->run_at);
	values[10] = Int32GetDatum(run->max_attempts);
	values[11] = IntervalPGetDatum(run->timeout);
	values[12] = IntervalPGetDatum(run->retry_base);
	values[13] = Float8GetDatum(run->retry_factor);
	values[14] = IntervalPGetDatum(run->retry_max_delay);
	ZJ_TEXT_PARAM(values, nulls, 15, run->dedupe_key);
	ZJ_TEXT_PARAM(values, nulls, 16, run->workflow);
	values[17] = Int32GetDatum(run->waiting_for);
	ZJ_TEXT_PARAM(values, nulls, 18, run->nparents == 0 ? NULL :
				  run->run_on_parent_failure ? "run" : "cancel");
	values[19] = Int64GetDatum(run->cancelled_by);
	nulls[19] = run->cancelled_by != 0 ? ' ' : 'n';
	ZJ_TEXT_PARAM(values, nulls, 20, run->cancelled_by == 0 ? NULL :
				  psprintf("parent run " INT64_FORMAT " %s", run->failed_parent,
						   run->parent_failed ? "failed" : "was cancelled"));
}

/*
 * Insert the run, unless an unfinished run of the owner has its
 * dedupe_key: then *id is that run's and false is returned.  A concurrent
 * enqueue of the same key waits here for the other to commit or abort.
 */
static Oid zj_runstate_insert_types[ZJ_INSERT_NARGS] = {TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, INT4OID, TEXTOID, REGROLEOID, JSONBOID, TEXTOID,
	TIMESTAMPTZOID, INT4OID, INTERVALOID, INTERVALOID, FLOAT8OID, INTERVALOID,
ZJ_INSERT_TYPES};

/* The columns the parameters fill, in their order. */
static const char *const zj_runstate_insert_columns[ZJ_INSERT_NARGS] = {"name",
	"kind", "command", "queue", "priority", "status", "owner", "input",
	"search_path", "run_at", "max_attempts", "timeout", "retry_base",
	"retry_factor", "retry_max_delay", "dedupe_key", "workflow", "waiting_for",
"on_parent_failure", "cancelled_by", "error_message"};

/*
 * The common enqueue (no dedupe_key, not cancelled at birth) without SQL
 * (runinsert.c); false if it must go through SQL.
 */
static bool
zj_runstate_insert_direct(const ZjNewRun *run, ZjRunStatus status, int64 *id)
{
	Datum		values[ZJ_INSERT_NARGS];
	char		nulls[ZJ_INSERT_NARGS];
	Oid			schema = get_namespace_oid("jobs", true);
	Oid			relid = OidIsValid(schema) ? get_relname_relid("runs", schema) : InvalidOid;

	if (run->dedupe_key != NULL || run->cancelled_by != 0 || !OidIsValid(relid))
		return false;
	zj_runstate_insert_params(run, status, values, nulls);
	return zj_runinsert_row(relid, zj_runstate_insert_columns, zj_runstate_insert_types,
							ZJ_INSERT_NARGS, values, nulls, id);
}

static bool
zj_runstate_insert_row(const ZjNewRun *run, ZjRunStatus status, int64 *id)
{
	static SPIPlanPtr plain = NULL;
	static SPIPlanPtr insert = NULL;
	static SPIPlanPtr existing = NULL;
	Oid		   *types = zj_runstate_insert_types;
	Datum		values[ZJ_INSERT_NARGS];
	char		nulls[ZJ_INSERT_NARGS];

	zj_runstate_insert_params(run, status, values, nulls);
	/* A speculative insertion costs more: only for runs with a key. */
	if (run->dedupe_key == NULL)
	{
		zj_query_exec(&plain,
					  ZJ_INSERT_INTO ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
					  " $9, $10, $11, $12, $13, $14, $15," ZJ_INSERT_MORE ")"
					  " RETURNING r.id",
					  ZJ_INSERT_NARGS, types, values, nulls);
		*id = zj_query_int8(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		return true;
	}
	for (;;)
	{
		if (zj_query_exec(&insert,
						  ZJ_INSERT_INTO ", dedupe_key) VALUES ($1, $2, $3, $4,"
						  " $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,"
						  ZJ_INSERT_MORE ", $16)"
						  " ON CONFLICT (owner, dedupe_key) WHERE dedupe_key IS NOT NULL"
						  " AND status IN " ZJ_UNFINISHED_STATUSES " DO NOTHING"
						  " RETURNING r.id",
						  ZJ_INSERT_NARGS, types, values, nulls) == 1)
		{
			*id = zj_query_int8(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			return true;
		}
		/* The other run may finish meanwhile: then insert again. */
		if (zj_query_exec(&existing,
						  "SELECT r.id FROM jobs.runs r WHERE r.owner = $7"
						  " AND r.dedupe_key = $16 AND r.status IN "
						  ZJ_UNFINISHED_STATUSES,
						  ZJ_INSERT_NARGS, types, values, nulls) == 1)
		{
			*id = zj_query_int8(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			return false;
		}
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * A new run is pending, or scheduled if it is due later; with parents, it
 * waits for them, or is cancelled if one has failed (runstate_deps.c).
 */
static ZjRunStatus
zj_runstate_new_status(const ZjNewRun *run)
{
	if (run->cancelled_by != 0)
		return ZJ_RUN_CANCELLED;
	if (run->waiting_for > 0)
		return ZJ_RUN_WAITING;
	return run->run_at > GetCurrentTimestamp() ? ZJ_RUN_SCHEDULED : ZJ_RUN_PENDING;
}

/* Record n new runs' events and the wake-up their commit needs. */
static void
zj_runstate_inserted(const ZjNewRun *run, ZjRunStatus status, Datum *ids,
					 int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		ZjRunEvent	ev;

		/* The event needs nothing the row has that we do not. */
		zj_events_fill(&ev, DatumGetInt64(ids[i]), status, 0,
					   run->max_attempts, run->name, run->queue, run->run_at,
					   0, status == ZJ_RUN_CANCELLED ? GetCurrentTimestamp() : 0,
					   NULL, run->workflow);
		zj_events_add(&ev);
	}
	if (n > 0 && status == ZJ_RUN_SCHEDULED)
		zj_wakeup_note_scheduled(run->run_at);
	else if (n > 0 && status == ZJ_RUN_PENDING)
		zj_wakeup_note_enqueue(run->owner, n, run->priority, run->run_at);
}

/*
 * enqueue: insert a run; returns its id (see zj_runstate_insert_row),
 * and whether it is a new one in *inserted if that is not NULL.
 */
int64
zj_runstate_insert(const ZjNewRun *run, bool *inserted_out)
{
	ZjRunStatus status = zj_runstate_new_status(run);
	int64		id;
	bool		inserted;
	Datum		d;

	inserted = zj_runstate_insert_direct(run, status, &id);
	if (!inserted)
	{
		zj_query_begin();
		inserted = zj_runstate_insert_row(run, status, &id);
		zj_query_end();
	}
	if (inserted)
	{
		d = Int64GetDatum(id);
		zj_runstate_inserted(run, status, &d, 1);
	}
	if (inserted_out != NULL)
		*inserted_out = inserted;
	return id;
}

/*
 * enqueue_many: one run per element of inputs, with one INSERT; returns
 * their ids, in the order of inputs, as an int8[] in the caller's memory.
 */
ArrayType *
zj_runstate_insert_many(const ZjNewRun *run, ArrayType *inputs)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[ZJ_INSERT_NARGS] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		INT4OID, TEXTOID, REGROLEOID, JSONBARRAYOID, TEXTOID, TIMESTAMPTZOID,
	INT4OID, INTERVALOID, INTERVALOID, FLOAT8OID, INTERVALOID, ZJ_INSERT_TYPES};
	Datum		values[ZJ_INSERT_NARGS];
	char		nulls[ZJ_INSERT_NARGS];
	ZjRunStatus status = zj_runstate_new_status(run);
	MemoryContext caller = CurrentMemoryContext;
	Datum	   *ids;
	uint64		i;
	ArrayType  *result;

	zj_runstate_insert_params(run, status, values, nulls);
	values[7] = PointerGetDatum(inputs);
	nulls[7] = ' ';
	zj_query_begin();
	/* Rows are inserted, numbered and returned in the order unnest gives. */
	zj_query_exec(&plan,
				  ZJ_INSERT_INTO ") SELECT $1, $2, $3, $4, $5, $6, $7, i.input,"
				  " $9, $10, $11, $12, $13, $14, $15," ZJ_INSERT_MORE
				  " FROM pg_catalog.unnest($8) AS i(input) RETURNING r.id",
				  ZJ_INSERT_NARGS, types, values, nulls);
	ids = MemoryContextAlloc(caller, Max(SPI_processed, 1) * sizeof(Datum));
	for (i = 0; i < SPI_processed; i++)
		ids[i] = Int64GetDatum(zj_query_int8(SPI_tuptable->vals[i],
											 SPI_tuptable->tupdesc, 1));
	MemoryContextSwitchTo(caller);
	zj_runstate_inserted(run, status, ids, (int) SPI_processed);
	result = construct_array(ids, (int) SPI_processed, INT8OID, sizeof(int64),
							 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	zj_query_end();
	return result;
}

/* ---------------------------------------------------------------------
 * The launcher: promote due runs
 * ---------------------------------------------------------------------
 */

/*
 * scheduled or awaiting_retry -> pending for runs now due, at most
 * ZJ_PROMOTE_BATCH per call: the caller calls again while it returns that
 * many.  *next_due is set to the earliest run_at still in the future, or 0.
 */
int
zj_runstate_promote_due(TimestampTz *next_due)
{
	static SPIPlanPtr promote = NULL;
	static SPIPlanPtr earliest = NULL;
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		values[1];
	int			n;
	uint64		i;

	/*
	 * "Now" as a parameter, not clock_timestamp(): a volatile function
	 * cannot bound the index scan, which would then read every run
	 * scheduled for later on each call (on each commit that schedules one).
	 */
	values[0] = TimestampTzGetDatum(GetCurrentTimestamp());
	zj_query_begin();
	n = zj_query_exec(&promote,
					  zj_runstate_sql(promote,
									  "UPDATE jobs.runs AS r SET status = 'pending'"
									  " WHERE r.id IN (SELECT q.id FROM jobs.runs q"
									  "  WHERE %s AND q.run_at <= $1"
									  "  ORDER BY q.run_at LIMIT "
									  CppAsString2(ZJ_PROMOTE_BATCH)
									  "  FOR NO KEY UPDATE SKIP LOCKED)"
									  " RETURNING " ZJ_EVENT_COLUMNS ", r.owner, r.priority",
									  ZJ_TR_PROMOTE, "q", false),
					  1, types, values, NULL);
	zj_runstate_record_all(ZJ_TR_PROMOTE);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		zj_wakeup_note_enqueue(zj_query_oid(tup, desc, ZJ_EVENT_NCOLS + 1), 1,
							   zj_query_int4(tup, desc, ZJ_EVENT_NCOLS + 2),
							   zj_query_time(tup, desc, 7));
	}

	zj_query_exec(&earliest,
				  zj_runstate_sql(earliest,
								  "SELECT min(r.run_at) FROM jobs.runs r WHERE %s",
								  ZJ_TR_PROMOTE, "r", false),
				  0, NULL, NULL, NULL);
	*next_due = zj_query_time(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	zj_query_end();
	return n;
}

/*
 * The ids (column 1) of the rows the statement returned whose boolean
 * column col is true (the runs with dependents, say), as an int8[] in
 * cxt; NULL if there are none.
 */
ArrayType *
zj_runstate_with_dependents(int col, MemoryContext cxt)
{
	Datum	   *ids = NULL;
	int			n = 0;
	uint64		i;
	MemoryContext old;
	ArrayType  *result;

	for (i = 0; i < SPI_processed; i++)
	{
		if (!zj_query_bool(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, col))
			continue;
		if (ids == NULL)
			ids = palloc(SPI_processed * sizeof(Datum));
		ids[n++] = Int64GetDatum(zj_query_int8(SPI_tuptable->vals[i],
											   SPI_tuptable->tupdesc, 1));
	}
	if (n == 0)
		return NULL;
	old = MemoryContextSwitchTo(cxt);
	result = DatumGetArrayTypeP(zj_query_array(ids, NULL, n, INT8OID));
	MemoryContextSwitchTo(old);
	return result;
}
