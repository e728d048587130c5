/*-------------------------------------------------------------------------
 *
 * bookkeeping.c
 *	  The queries zapjobs runs on its own tables, and the run state
 *	  transitions of the normal path: insert (enqueue), promote (scheduled
 *	  or awaiting_retry -> pending), claim (pending -> running), complete.
 *	  Attempts that do not complete end in failure.c; claims under queue
 *	  and job limits are in limits.c; jobs.cancel and jobs.retry in
 *	  control.c.  Each transition records its event for job_update.
 *
 *	  The queries run as the bootstrap superuser with a restricted
 *	  search_path (zj_book_begin), whoever the session user is: a worker is
 *	  connected as the job's owner, who has no rights on jobs.runs, and a
 *	  job may have changed search_path or created objects to hijack
 *	  unqualified names.  Plans are prepared once per process.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "jit/jit.h"
#include "miscadmin.h"
#include "optimizer/cost.h"
#include "optimizer/planner.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/array.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "zapjobs.h"
#include "bookkeeping.h"

static const char *const zj_status_names[] = {
	[ZJ_RUN_SCHEDULED] = "scheduled",
	[ZJ_RUN_PENDING] = "pending",
	[ZJ_RUN_RUNNING] = "running",
	[ZJ_RUN_COMPLETED] = "completed",
	[ZJ_RUN_FAILED] = "failed",
	[ZJ_RUN_CANCELLED] = "cancelled",
	[ZJ_RUN_AWAITING_RETRY] = "awaiting_retry",
};


typedef struct ZjBookState
{
	Oid			saved_user;
	int			saved_sec_context;
	int			guc_level;
} ZjBookState;

/* Saved by zj_book_begin; errors unwind it through transaction abort. */
static ZjBookState zj_book_state;

/* Between zj_book_begin and zj_book_end: see zj_book_planner. */
static bool zj_book_planning_rules = false;
static planner_hook_type zj_book_prev_planner = NULL;

const char *
zj_status_name(ZjRunStatus status)
{
	return zj_status_names[status];
}

ZjRunStatus
zj_status_from_name(const char *name)
{
	int			i;

	for (i = 0; i < lengthof(zj_status_names); i++)
		if (strcmp(zj_status_names[i], name) == 0)
			return (ZjRunStatus) i;
	elog(ERROR, "unknown zapjobs run status \"%s\"", name);
	return ZJ_RUN_FAILED;		/* keep compiler quiet */
}

bool
zj_status_is_final(ZjRunStatus status)
{
	return status == ZJ_RUN_COMPLETED || status == ZJ_RUN_FAILED ||
		status == ZJ_RUN_CANCELLED;
}

/* Enter bookkeeping mode: superuser, safe search_path, SPI connected. */
void
zj_book_begin(void)
{
	GetUserIdAndSecContext(&zj_book_state.saved_user,
						   &zj_book_state.saved_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   zj_book_state.saved_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	zj_book_state.guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	zj_book_planning_rules = true;
}

void
zj_book_end(void)
{
	zj_book_planning_rules = false;
	PopActiveSnapshot();
	SPI_finish();
	AtEOXact_GUC(true, zj_book_state.guc_level);
	SetUserIdAndSecContext(zj_book_state.saved_user,
						   zj_book_state.saved_sec_context);
}

/*
 * Plan bookkeeping statements as lookups: index scans that return rows in
 * the order asked and nested loops over them; never a scan of a whole
 * table or index to sort it or hash it, and no JIT.  Every bookkeeping
 * query has an index made for it, and its plan is cached: one made while
 * jobs.runs was small (after CREATE EXTENSION or TRUNCATE), or with
 * statistics taken while a queue was empty, would otherwise price a sort
 * of "all" pending runs, or a hash of all runs, at nothing, and keep
 * doing it for a table grown to millions.  JIT: a scan of a small
 * settings table with no index to use costs as much as a disabled plan,
 * and would be compiled every time.  The settings are swapped for the
 * planner call only, so executing a statement changes no GUC.
 */
static PlannedStmt *
zj_book_planner(Query *parse, const char *query_string, int cursor_options,
				ParamListInfo bound_params)
{
	bool	   *rules[] = {&enable_seqscan, &enable_bitmapscan, &enable_sort,
	&enable_hashjoin, &enable_mergejoin, &jit_enabled};
	bool		saved[lengthof(rules)];
	PlannedStmt *result;
	int			i;

	for (i = 0; i < lengthof(rules); i++)
	{
		saved[i] = *rules[i];
		if (zj_book_planning_rules)
			*rules[i] = false;
	}
	PG_TRY();
	{
		result = zj_book_prev_planner ?
			zj_book_prev_planner(parse, query_string, cursor_options, bound_params) :
			standard_planner(parse, query_string, cursor_options, bound_params);
	}
	PG_FINALLY();
	{
		for (i = 0; i < lengthof(rules); i++)
			*rules[i] = saved[i];
	}
	PG_END_TRY();
	return result;
}

/* An error in bookkeeping leaves the planner's rules to the user again. */
static void
zj_book_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		zj_book_planning_rules = false;
}

static void
zj_book_subxact_callback(SubXactEvent event, SubTransactionId my_subid,
						 SubTransactionId parent_subid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		zj_book_planning_rules = false;
}

/* _PG_init: install the planner hook and the callbacks that reset it. */
void
zj_book_install_planner(void)
{
	zj_book_prev_planner = planner_hook;
	planner_hook = zj_book_planner;
	RegisterXactCallback(zj_book_xact_callback, NULL);
	RegisterSubXactCallback(zj_book_subxact_callback, NULL);
}

/*
 * Start a transaction of zapjobs' own.  Workers are sessions of job
 * owners, whose defaults (default_transaction_read_only, a stricter
 * isolation level) must not break the bookkeeping.
 */
void
zj_xact_begin(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	XactReadOnly = false;
	XactIsoLevel = XACT_READ_COMMITTED;
}

/*
 * Run a statement through a plan prepared on first use.  Always the
 * generic plan: planned under zj_book_planner's rules, it is as good as
 * one planned for the values at hand, and planning it for every call
 * (what the plan cache does when a custom plan looks cheaper, as for
 * "run_at <= $1") would cost more than most of these statements.
 */
int
zj_book_exec(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
			 Datum *values, const char *nulls)
{
	int			rc;

	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, types,
										   CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL)
			elog(ERROR, "zapjobs could not prepare \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*plan = p;
	}
	rc = SPI_execute_plan(*plan, values, nulls, false, 0);
	if (rc < 0)
		elog(ERROR, "zapjobs bookkeeping failed: %s",
			 SPI_result_code_string(rc));
	return (int) SPI_processed;
}

char *
zj_book_text(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

TimestampTz
zj_book_time(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? 0 : DatumGetTimestampTz(d);
}

int32
zj_book_int4(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

/* Record the event of a row a transition returned, from column first. */
void
zj_book_record_event(HeapTuple tup, TupleDesc desc, int first)
{
	bool		isnull;
	ZjRunEvent	ev;

	zj_events_fill(&ev,
				   DatumGetInt64(SPI_getbinval(tup, desc, first, &isnull)),
				   zj_book_text(tup, desc, first + 1),
				   zj_book_int4(tup, desc, first + 2),
				   zj_book_int4(tup, desc, first + 3),
				   zj_book_text(tup, desc, first + 4),
				   zj_book_text(tup, desc, first + 5),
				   zj_book_time(tup, desc, first + 6),
				   zj_book_time(tup, desc, first + 7),
				   zj_book_time(tup, desc, first + 8),
				   zj_book_text(tup, desc, first + 9));
	zj_events_add(&ev);
}

/* Record the events of the rows a transition returned, from column first. */
void
zj_book_record_events(int first)
{
	uint64		i;

	for (i = 0; i < SPI_processed; i++)
		zj_book_record_event(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, first);
}

/* The parameters of the INSERT of a new run, and its columns but one. */
#define ZJ_INSERT_NARGS 16
#define ZJ_INSERT_INTO \
	"INSERT INTO jobs.runs AS r (name, kind, command, queue, priority," \
	" status, owner, input, search_path, run_at, max_attempts, timeout," \
	" retry_base, retry_factor, retry_max_delay"
static void
zj_book_insert_params(const ZjNewRun *run, bool scheduled, Datum *values,
					  char *nulls)
{
	memset(nulls, ' ', ZJ_INSERT_NARGS);
	ZJ_TEXT_PARAM(values, nulls, 0, run->name);
	values[1] = CStringGetTextDatum(run->kind);
	values[2] = CStringGetTextDatum(run->command);
	values[3] = CStringGetTextDatum(run->queue);
	values[4] = Int32GetDatum(run->priority);
	values[5] = CStringGetTextDatum(scheduled ? "scheduled" : "pending");
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
}

/*
 * Insert the run, unless an unfinished run of the owner has its
 * dedupe_key: then *id is that run's and false is returned.  A concurrent
 * enqueue of the same key waits here for the other to commit or abort.
 */
static bool
zj_book_insert_row(const ZjNewRun *run, bool scheduled, int64 *id)
{
	static SPIPlanPtr plain = NULL;
	static SPIPlanPtr insert = NULL;
	static SPIPlanPtr existing = NULL;
	Oid			types[ZJ_INSERT_NARGS] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		INT4OID, TEXTOID, REGROLEOID, JSONBOID, TEXTOID, TIMESTAMPTZOID, INT4OID,
	INTERVALOID, INTERVALOID, FLOAT8OID, INTERVALOID, TEXTOID};
	Datum		values[ZJ_INSERT_NARGS];
	char		nulls[ZJ_INSERT_NARGS];
	bool		isnull;

	zj_book_insert_params(run, scheduled, values, nulls);
	/* A speculative insertion costs more: only for runs with a key. */
	if (run->dedupe_key == NULL)
	{
		zj_book_exec(&plain,
					 ZJ_INSERT_INTO ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
					 " $9, $10, $11, $12, $13, $14, $15) RETURNING r.id",
					 ZJ_INSERT_NARGS, types, values, nulls);
		*id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
		return true;
	}
	for (;;)
	{
		if (zj_book_exec(&insert,
						 ZJ_INSERT_INTO ", dedupe_key) VALUES ($1, $2, $3, $4,"
						 " $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
						 " ON CONFLICT (owner, dedupe_key) WHERE dedupe_key IS NOT NULL"
						 " AND status IN " ZJ_UNFINISHED_STATUSES " DO NOTHING"
						 " RETURNING r.id",
						 ZJ_INSERT_NARGS, types, values, nulls) == 1)
		{
			*id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
			return true;
		}
		/* The other run may finish meanwhile: then insert again. */
		if (zj_book_exec(&existing,
						 "SELECT r.id FROM jobs.runs r WHERE r.owner = $7"
						 " AND r.dedupe_key = $16 AND r.status IN "
						 ZJ_UNFINISHED_STATUSES,
						 ZJ_INSERT_NARGS, types, values, nulls) == 1)
		{
			*id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
			return false;
		}
		CHECK_FOR_INTERRUPTS();
	}
}

/* enqueue: insert a run; returns its id (see zj_book_insert_row). */
int64
zj_book_insert(const ZjNewRun *run)
{
	bool		scheduled = run->run_at > GetCurrentTimestamp();
	int64		id;
	bool		inserted;
	ZjRunEvent	ev;

	zj_book_begin();
	inserted = zj_book_insert_row(run, scheduled, &id);
	zj_book_end();
	if (!inserted)
		return id;

	/* The event needs nothing the row has that we do not: no RETURNING. */
	zj_events_fill(&ev, id, scheduled ? "scheduled" : "pending", 0,
				   run->max_attempts, run->name, run->queue, run->run_at,
				   0, 0, NULL);
	zj_events_add(&ev);

	if (scheduled)
		zj_wakeup_note_scheduled(run->run_at);
	else
		zj_wakeup_note_enqueue(run->owner, 1);
	return id;
}

/*
 * enqueue_many: one run per element of inputs, with one INSERT; returns
 * their ids, in the order of inputs, as an int8[] in the caller's memory.
 */
ArrayType *
zj_book_insert_many(const ZjNewRun *run, ArrayType *inputs)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[ZJ_INSERT_NARGS] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		INT4OID, TEXTOID, REGROLEOID, JSONBARRAYOID, TEXTOID, TIMESTAMPTZOID,
	INT4OID, INTERVALOID, INTERVALOID, FLOAT8OID, INTERVALOID, TEXTOID};
	Datum		values[ZJ_INSERT_NARGS];
	char		nulls[ZJ_INSERT_NARGS];
	bool		scheduled = run->run_at > GetCurrentTimestamp();
	MemoryContext caller = CurrentMemoryContext;
	Datum	   *ids;
	uint64		i;
	ArrayType  *result;

	zj_book_insert_params(run, scheduled, values, nulls);
	values[7] = PointerGetDatum(inputs);
	nulls[7] = ' ';
	zj_book_begin();
	/* Rows are inserted, numbered and returned in the order unnest gives. */
	zj_book_exec(&plan,
				 ZJ_INSERT_INTO ") SELECT $1, $2, $3, $4, $5, $6, $7, i.input,"
				 " $9, $10, $11, $12, $13, $14, $15"
				 " FROM pg_catalog.unnest($8) AS i(input) RETURNING r.id",
				 ZJ_INSERT_NARGS, types, values, nulls);
	ids = MemoryContextAlloc(caller, Max(SPI_processed, 1) * sizeof(Datum));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		ZjRunEvent	ev;

		ids[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1,
							   &isnull);
		zj_events_fill(&ev, DatumGetInt64(ids[i]),
					   scheduled ? "scheduled" : "pending", 0,
					   run->max_attempts, run->name, run->queue, run->run_at,
					   0, 0, NULL);
		zj_events_add(&ev);
	}
	MemoryContextSwitchTo(caller);
	result = construct_array(ids, (int) SPI_processed, INT8OID, sizeof(int64),
							 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	if (SPI_processed > 0 && scheduled)
		zj_wakeup_note_scheduled(run->run_at);
	else if (SPI_processed > 0)
		zj_wakeup_note_enqueue(run->owner, (int64) SPI_processed);
	zj_book_end();
	return result;
}

/* Keep a shell run's process group for the reaper; commits with the caller. */
void
zj_book_set_shell_pgid(ZjRun *run, pid_t pgid)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2];

	values[0] = Int64GetDatum(run->id);
	values[1] = Int32GetDatum((int32) pgid);
	zj_book_begin();
	zj_book_exec(&plan, "UPDATE jobs.runs SET shell_pgid = $2 WHERE id = $1",
				 2, types, values, NULL);
	zj_book_end();
}

/* Copy the claimed run out of SPI memory into cxt. */
ZjRun *
zj_book_copy_run(HeapTuple tup, TupleDesc desc, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	ZjRun	   *run = palloc0(sizeof(ZjRun));
	bool		isnull;
	Datum		d;

	run->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	run->command = zj_book_text(tup, desc, ZJ_EVENT_NCOLS + 1);
	run->search_path = zj_book_text(tup, desc, ZJ_EVENT_NCOLS + 2);
	d = SPI_getbinval(tup, desc, ZJ_EVENT_NCOLS + 3, &isnull);
	run->input = isnull ? NULL : DatumGetJsonbPCopy(d);
	run->attempt = zj_book_int4(tup, desc, 3);
	d = SPI_getbinval(tup, desc, ZJ_EVENT_NCOLS + 4, &isnull);
	run->timeout_ms = isnull ? 0 : DatumGetInt64(d);
	run->name = zj_book_text(tup, desc, 5);
	run->queue = zj_book_text(tup, desc, 6);
	run->shell = strcmp(zj_book_text(tup, desc, ZJ_EVENT_NCOLS + 5), "shell") == 0;
	MemoryContextSwitchTo(old);
	return run;
}


/* A completed run keeps the errors of earlier attempts in jobs.attempts only. */
#define ZJ_CLEAR_ERROR \
	" error_sqlstate = NULL, error_message = NULL, error_detail = NULL," \
	" error_hint = NULL, error_context = NULL"

#define ZJ_CLAIM_SET \
	"UPDATE jobs.runs AS r SET status = 'running'," \
	" attempt = r.attempt + 1, started_at = pg_catalog.clock_timestamp()," \
	" worker_pid = $2, worker_epoch = $3, shell_pgid = NULL"
#define ZJ_CLAIM_RETURNING " RETURNING " ZJ_LOCK_COLUMNS

/*
 * pending -> running: claim the next run of this role, or (only_id != 0)
 * that very run if it is still pending.  The caller's transaction commits
 * the claim: a short one of its own, or a batch (see batch.c).
 */
ZjClaimResult
zj_book_claim(Oid role, ZjRun **run, MemoryContext cxt, int64 only_id)
{
	/* Under limits, a run a batch left to run alone waits its turn too. */
	if (zj_limits_active())
		return zj_book_claim_limited(role, run, cxt);
	return zj_book_claim_direct(role, run, cxt, only_id);
}

/* zj_book_claim without regard to limits (limits.c has checked them). */
ZjClaimResult
zj_book_claim_direct(Oid role, ZjRun **run, MemoryContext cxt, int64 only_id)
{
	static SPIPlanPtr next_plan = NULL;
	static SPIPlanPtr id_plan = NULL;
	Oid			types[4] = {REGROLEOID, INT4OID, INT8OID, INT8OID};
	Datum		values[4];
	bool		found;

	values[0] = ObjectIdGetDatum(role);
	values[1] = Int32GetDatum(MyProcPid);
	values[2] = Int64GetDatum((int64) zj_shared->epoch);
	values[3] = Int64GetDatum(only_id);

	zj_book_begin();
	if (only_id == 0)
		zj_book_exec(&next_plan,
					 ZJ_CLAIM_SET
					 " WHERE r.id = (SELECT q.id FROM jobs.runs q"
					 "  WHERE q.status = 'pending' AND q.owner = $1"
					 "  ORDER BY q.priority, q.run_at, q.id"
					 "  LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED)"
					 ZJ_CLAIM_RETURNING,
					 3, types, values, NULL);
	else
		zj_book_exec(&id_plan,
					 ZJ_CLAIM_SET
					 " WHERE r.id = (SELECT q.id FROM jobs.runs q"
					 "  WHERE q.id = $4 AND q.status " ZJ_NOT_VIA_CLAIM_INDEX
					 "  AND q.owner = $1"
					 "  FOR NO KEY UPDATE SKIP LOCKED)"
					 ZJ_CLAIM_RETURNING,
					 4, types, values, NULL);
	found = SPI_processed == 1;
	if (found)
	{
		*run = zj_book_copy_run(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, cxt);
		zj_book_record_events(1);
	}
	zj_book_end();
	return found ? ZJ_CLAIMED : ZJ_CLAIM_NONE;
}

/* The runs a locking SELECT returned (ZJ_LOCK_COLUMNS), as a batch's. */
List *
zj_book_locked_runs(MemoryContext cxt)
{
	List	   *runs = NIL;
	uint64		i;

	for (i = 0; i < SPI_processed; i++)
	{
		ZjRun	   *run = zj_book_copy_run(SPI_tuptable->vals[i],
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
 * Lock up to n pending runs of this role for a batch (batch.c) without
 * changing them: to everyone else they stay pending, skipped while locked,
 * until the batch commits their outcomes; the ones it does not get to are
 * released untouched at commit.  One index scan for the lot.  Returns at
 * most n runs: a power of two of them (zj_book_lock_limit).
 */
List *
zj_book_lock_pending(Oid role, int n, MemoryContext cxt)
{
	static SPIPlanPtr plans[ZJ_LOCK_PLANS];
	Oid			types[1] = {REGROLEOID};
	Datum		values[1];
	int			slot = zj_book_lock_limit(n);
	List	   *runs;

	if (zj_limits_active())
		return zj_book_lock_pending_unlimited(role, n, cxt);
	values[0] = ObjectIdGetDatum(role);
	zj_book_begin();
	zj_book_exec(&plans[slot],
				 plans[slot] ? NULL :
				 psprintf("SELECT " ZJ_LOCK_COLUMNS
						  " FROM jobs.runs r WHERE r.status = 'pending' AND r.owner = $1"
						  " ORDER BY r.priority, r.run_at, r.id"
						  " LIMIT %d FOR NO KEY UPDATE SKIP LOCKED", 1 << slot),
				 1, types, values, NULL);
	runs = zj_book_locked_runs(cxt);
	zj_book_end();
	return runs;
}

/*
 * The plan to lock up to n runs with: the one for LIMIT 2^slot, the
 * largest not above n.  The limit is written into each plan's text: with
 * "LIMIT $2" the plan cache either plans every call afresh (a custom plan
 * looks cheaper) or settles on a generic plan costed to fetch a tenth of
 * the table, which can be a sort of every pending run.
 */
int
zj_book_lock_limit(int n)
{
	int			slot = 0;

	while (slot + 1 < ZJ_LOCK_PLANS && (2 << slot) <= n)
		slot++;
	return slot;
}

/* The run's change to running, for a run that went straight past it. */
void
zj_book_record_running(HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	ZjRunEvent	ev;

	zj_events_fill(&ev,
				   DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull)),
				   "running",
				   zj_book_int4(tup, desc, 3),
				   zj_book_int4(tup, desc, 4),
				   zj_book_text(tup, desc, 5),
				   zj_book_text(tup, desc, 6),
				   zj_book_time(tup, desc, 7),
				   zj_book_time(tup, desc, 8),
				   0, NULL);
	zj_events_add(&ev);
}

/* A one-dimensional array of n values of type elemtype. */
static Datum
zj_book_array(Datum *values, bool *nulls, int n, Oid elemtype)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
											  elemtype, typlen, typbyval,
											  typalign));
}

/* The runs' ids, starts, ends and outputs as the arrays $1 to $4. */
static void
zj_book_finished_params(List *runs, Datum *params)
{
	int			n = list_length(runs);
	Datum	   *ids = palloc(n * sizeof(Datum));
	Datum	   *starts = palloc(n * sizeof(Datum));
	Datum	   *ends = palloc(n * sizeof(Datum));
	Datum	   *outputs = palloc(n * sizeof(Datum));
	bool	   *no_output = palloc(n * sizeof(bool));
	ListCell   *lc;

	foreach(lc, runs)
	{
		ZjRun	   *run = lfirst(lc);
		int			i = foreach_current_index(lc);

		ids[i] = Int64GetDatum(run->id);
		starts[i] = TimestampTzGetDatum(run->started_at);
		ends[i] = TimestampTzGetDatum(run->finished_at);
		outputs[i] = PointerGetDatum(run->output);
		no_output[i] = run->output == NULL;
	}
	params[0] = zj_book_array(ids, NULL, n, INT8OID);
	params[1] = zj_book_array(starts, NULL, n, TIMESTAMPTZOID);
	params[2] = zj_book_array(ends, NULL, n, TIMESTAMPTZOID);
	params[3] = zj_book_array(outputs, no_output, n, JSONBOID);
}

/*
 * pending -> completed for runs locked by zj_book_lock_pending and
 * executed in this transaction, with their running and completed events
 * (their failures: zj_book_fail).  One UPDATE for them all, since starting
 * the executor costs more than updating a row.  Locked runs never report
 * progress (zj_worker_may_report), so there is none to store.
 * Each run's started_at, finished_at and output are its own; the rows
 * are found by id, so the plan is the same whatever the statistics.
 */
void
zj_book_finish_locked_many(List *runs)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[6] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID,
	TIMESTAMPTZARRAYOID, JSONBARRAYOID, INT4OID, INT8OID};
	Datum		values[6];
	uint64		i;

	if (runs == NIL)
		return;
	zj_book_finished_params(runs, values);
	values[4] = Int32GetDatum(MyProcPid);
	values[5] = Int64GetDatum((int64) zj_shared->epoch);
	zj_book_begin();
	if (zj_book_exec(&plan,
					 "UPDATE jobs.runs AS r SET status = 'completed',"
					 " attempt = r.attempt + 1,"
					 " started_at = $2[pg_catalog.array_position($1, r.id)],"
					 " finished_at = $3[pg_catalog.array_position($1, r.id)],"
					 " duration = $3[pg_catalog.array_position($1, r.id)]"
					 "  - $2[pg_catalog.array_position($1, r.id)],"
					 " output = $4[pg_catalog.array_position($1, r.id)],"
					 " worker_pid = $5, worker_epoch = $6," ZJ_CLEAR_ERROR
					 " WHERE r.id = ANY ($1) AND r.status " ZJ_NOT_VIA_CLAIM_INDEX
					 " RETURNING " ZJ_EVENT_COLUMNS,
					 6, types, values, NULL) != list_length(runs))
		elog(ERROR, "zapjobs lost the lock on runs of a batch");
	for (i = 0; i < SPI_processed; i++)
	{
		zj_book_record_running(SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
		zj_book_record_event(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	}
	zj_book_end();
}

/* Parameters for ZJ_SET_PROGRESS, at values[0..6]. */
void
zj_book_progress_params(ZjRun *run, Datum *values, char *nulls)
{
	ZjProgressValues *v = run->progress;

	memset(nulls, v ? ' ' : 'n', ZJ_PROGRESS_NARGS);
	if (v == NULL)
		return;
	values[0] = Int64GetDatum(v->current);
	nulls[0] = v->current < 0 ? 'n' : ' ';
	values[1] = Int64GetDatum(v->total);
	nulls[1] = v->total < 0 ? 'n' : ' ';
	ZJ_TEXT_PARAM(values, nulls, 2, v->message[0] ? v->message : NULL);
	values[3] = Int64GetDatum(v->processed);
	values[4] = Int64GetDatum(v->succeeded);
	values[5] = Int64GetDatum(v->failed);
	values[6] = TimestampTzGetDatum(v->at);
}

/* The run's last progress, published just before its new state. */
void
zj_book_record_progress(ZjRun *run)
{
	ZjRunEvent	ev;

	if (run->progress == NULL)
		return;
	zj_progress_event(&ev, run->progress, run->name);
	zj_events_add(&ev);
}

/* running -> completed, in the job's own transaction. */
void
zj_book_complete(ZjRun *run, Jsonb *output)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[10] = {INT8OID, JSONBOID, TIMESTAMPTZOID, ZJ_PROGRESS_TYPES};
	Datum		values[10];
	char		nulls[10] = {' ', output ? ' ' : 'n', ' '};
	int			n;

	values[0] = Int64GetDatum(run->id);
	values[1] = output ? JsonbPGetDatum(output) : (Datum) 0;
	values[2] = TimestampTzGetDatum(GetCurrentTimestamp());
	zj_book_progress_params(run, values + 3, nulls + 3);

	zj_book_begin();
	n = zj_book_exec(&plan,
					 "UPDATE jobs.runs AS r SET status = 'completed',"
					 " finished_at = $3, duration = $3 - r.started_at, output = $2,"
					 ZJ_CLEAR_ERROR ","
					 ZJ_SET_PROGRESS("4", "5", "6", "7", "8", "9", "10")
					 " WHERE r.id = $1 AND r.status = 'running'"
					 " AND NOT r.cancel_requested"
					 " RETURNING " ZJ_EVENT_COLUMNS,
					 10, types, values, nulls);
	/* Cancelled as it finished: roll its effects back, it ends cancelled. */
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("run " INT64_FORMAT " was cancelled", run->id),
				 errdetail("jobs.cancel() was called while the job ran.")));
	zj_book_record_progress(run);
	zj_book_record_events(1);
	zj_book_end();
}

/*
 * scheduled -> pending for runs now due, at most a batch per call (the
 * launcher calls again while it returns a full batch).  *next_due is set
 * to the earliest run_at still in the future, or 0.
 */
int
zj_book_promote_due(TimestampTz *next_due)
{
	static SPIPlanPtr promote = NULL;
	static SPIPlanPtr earliest = NULL;
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		values[1];
	int			n;
	uint64		i;
	bool		isnull;

	/*
	 * "Now" as a parameter, not clock_timestamp(): a volatile function
	 * cannot bound the index scan, which would then read every run
	 * scheduled for later on each call (on each commit that schedules one).
	 */
	values[0] = TimestampTzGetDatum(GetCurrentTimestamp());
	zj_book_begin();
	n = zj_book_exec(&promote,
					 "UPDATE jobs.runs AS r SET status = 'pending'"
					 " WHERE r.id IN (SELECT q.id FROM jobs.runs q"
					 "  WHERE q.status IN ('scheduled', 'awaiting_retry')"
					 "  AND q.run_at <= $1"
					 "  ORDER BY q.run_at LIMIT 1000 FOR NO KEY UPDATE SKIP LOCKED)"
					 " RETURNING " ZJ_EVENT_COLUMNS ", r.owner",
					 1, types, values, NULL);
	zj_book_record_events(1);
	for (i = 0; i < SPI_processed; i++)
		zj_wakeup_note_enqueue(DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															  SPI_tuptable->tupdesc,
															  ZJ_EVENT_NCOLS + 1,
															  &isnull)), 1);

	zj_book_exec(&earliest,
				 "SELECT min(run_at) FROM jobs.runs"
				 " WHERE status IN ('scheduled', 'awaiting_retry')",
				 0, NULL, NULL, NULL);
	*next_due = zj_book_time(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	zj_book_end();
	return n;
}

/*
 * Roles that own pending runs (a loose index scan over the claim index),
 * with how many each has outside paused queues, counted up to cap.
 */
int
zj_book_demand(Oid *roles, int *pending, int max, int cap)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	int			n;
	int			i;
	bool		isnull;

	values[0] = Int32GetDatum(cap);
	zj_book_begin();
	n = zj_book_exec(&plan,
					 "WITH RECURSIVE o(owner) AS ("
					 " (SELECT owner FROM jobs.runs WHERE status = 'pending'"
					 "  ORDER BY owner LIMIT 1)"
					 " UNION ALL"
					 " SELECT (SELECT r.owner FROM jobs.runs r"
					 "  WHERE r.status = 'pending' AND r.owner > o.owner"
					 "  ORDER BY r.owner LIMIT 1) FROM o WHERE o.owner IS NOT NULL)"
					 " SELECT * FROM (SELECT o.owner::oid, (SELECT count(*)::int4 FROM"
					 "  (SELECT 1 FROM jobs.runs r WHERE r.status = 'pending'"
					 "   AND r.owner = o.owner AND r.queue <> ALL (ARRAY("
					 "    SELECT u.name FROM jobs.queues u WHERE u.paused))"
					 "   LIMIT $1) c) AS n"
					 " FROM o WHERE o.owner IS NOT NULL) d WHERE d.n > 0",
					 1, types, values, NULL);
	n = Min(n, max);
	for (i = 0; i < n; i++)
	{
		roles[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
												  SPI_tuptable->tupdesc, 1,
												  &isnull));
		pending[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
												 SPI_tuptable->tupdesc, 2,
												 &isnull));
	}
	zj_book_end();
	return n;
}

/* pending -> failed for every run of a role no worker can serve. */
int
zj_book_fail_role(Oid role, const char *sqlstate, const char *message,
				  const char *hint)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[4] = {REGROLEOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];
	int			n;

	values[0] = ObjectIdGetDatum(role);
	values[1] = CStringGetTextDatum(sqlstate);
	values[2] = CStringGetTextDatum(message);
	values[3] = CStringGetTextDatum(hint);
	zj_book_begin();
	n = zj_book_exec(&plan,
					 "UPDATE jobs.runs AS r SET status = 'failed',"
					 " finished_at = pg_catalog.clock_timestamp(),"
					 " error_sqlstate = $2, error_message = $3, error_hint = $4"
					 " WHERE r.id IN (SELECT q.id FROM jobs.runs q"
					 "  WHERE q.owner = $1 AND q.status = 'pending'"
					 "  FOR NO KEY UPDATE SKIP LOCKED)"
					 " RETURNING " ZJ_EVENT_COLUMNS,
					 4, types, values, NULL);
	zj_book_record_events(1);
	zj_book_end();
	return n;
}

