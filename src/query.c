/*-------------------------------------------------------------------------
 *
 * query.c
 *	  How zapjobs runs statements on its own tables, whatever session it is
 *	  in: as the bootstrap superuser with a restricted search_path
 *	  (zj_query_begin), through plans prepared once per process and planned
 *	  under rules of their own (zj_query_planner), in transactions that
 *	  ignore the session's defaults (zj_query_xact_begin); and reading the
 *	  columns they return.  A worker is connected as a job's owner, who has
 *	  no rights on jobs.runs, and a job may have changed search_path or
 *	  created objects to hijack unqualified names.
 *
 *	  This layer knows nothing of runs or their states.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "executor/spi.h"
#include "jit/jit.h"
#include "miscadmin.h"
#include "optimizer/cost.h"
#include "optimizer/planner.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "query.h"

typedef struct ZjQueryState
{
	Oid			saved_user;
	int			saved_sec_context;
	int			guc_level;
	int			xact_level;		/* (sub)transaction nesting level at begin */
} ZjQueryState;

/*
 * Scopes may nest (a trigger of ours fired by our own statement): each
 * zj_query_begin saves what it changes here.  An error unwinds the
 * changes through (sub)transaction abort; the callbacks drop the entries.
 */
#define ZJ_QUERY_MAX_DEPTH 4
static ZjQueryState zj_query_stack[ZJ_QUERY_MAX_DEPTH];
static int	zj_query_depth = 0;	/* > 0: bookkeeping, see zj_query_planner */

static planner_hook_type zj_query_prev_planner = NULL;

/* Enter bookkeeping mode: superuser, safe search_path, SPI connected. */
void
zj_query_begin(void)
{
	ZjQueryState *st;

	if (zj_query_depth >= ZJ_QUERY_MAX_DEPTH)
		elog(ERROR, "zapjobs bookkeeping nested too deeply");
	st = &zj_query_stack[zj_query_depth++];
	st->xact_level = GetCurrentTransactionNestLevel();
	GetUserIdAndSecContext(&st->saved_user, &st->saved_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   st->saved_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	st->guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
}

void
zj_query_end(void)
{
	ZjQueryState *st;

	Assert(zj_query_depth > 0);
	st = &zj_query_stack[--zj_query_depth];
	PopActiveSnapshot();
	SPI_finish();
	AtEOXact_GUC(true, st->guc_level);
	SetUserIdAndSecContext(st->saved_user, st->saved_sec_context);
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
zj_query_planner(Query *parse, const char *query_string, int cursor_options,
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
		if (zj_query_depth > 0)	/* in bookkeeping */
			*rules[i] = false;
	}
	PG_TRY();
	{
		result = zj_query_prev_planner ?
			zj_query_prev_planner(parse, query_string, cursor_options, bound_params) :
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
zj_query_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		zj_query_depth = 0;
}

/* A subtransaction's abort ends the scopes begun in it, not those around it. */
static void
zj_query_subxact_callback(SubXactEvent event, SubTransactionId my_subid,
						 SubTransactionId parent_subid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	while (zj_query_depth > 0 &&
		   zj_query_stack[zj_query_depth - 1].xact_level >= level)
		zj_query_depth--;
}

/* _PG_init: install the planner hook and the callbacks that reset it. */
void
zj_query_install_planner(void)
{
	zj_query_prev_planner = planner_hook;
	planner_hook = zj_query_planner;
	RegisterXactCallback(zj_query_xact_callback, NULL);
	RegisterSubXactCallback(zj_query_subxact_callback, NULL);
}

/*
 * Start a transaction of zapjobs' own.  Workers are sessions of job
 * owners, whose defaults (default_transaction_read_only, a stricter
 * isolation level) must not break the bookkeeping.
 */
void
zj_query_xact_begin(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	XactReadOnly = false;
	XactIsoLevel = XACT_READ_COMMITTED;
}

/*
 * Run a statement through a plan prepared on first use.  Always the
 * generic plan: planned under zj_query_planner's rules, it is as good as
 * one planned for the values at hand, and planning it for every call
 * (what the plan cache does when a custom plan looks cheaper, as for
 * "run_at <= $1") would cost more than most of these statements.
 */
static void
zj_query_prepare(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	p;

	if (*plan != NULL)
		return;
	p = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);
	if (p == NULL)
		elog(ERROR, "zapjobs could not prepare \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	SPI_keepplan(p);
	*plan = p;
}

static int
zj_query_result(int rc)
{
	if (rc < 0)
		elog(ERROR, "zapjobs bookkeeping failed: %s",
			 SPI_result_code_string(rc));
	return (int) SPI_processed;
}

int
zj_query_exec(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
			 Datum *values, const char *nulls)
{
	zj_query_prepare(plan, sql, nargs, types);
	return zj_query_result(SPI_execute_plan(*plan, values, nulls, false, 0));
}

/*
 * zj_query_exec in the latest snapshot, whatever the transaction's
 * isolation level, as foreign-key checks do: for statements about other
 * runs that must see every commit (a job's transaction may be REPEATABLE
 * READ by its owner's defaults; a dependency committed after its snapshot
 * must not be missed).
 */
int
zj_query_exec_latest(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
					 Datum *values, const char *nulls)
{
	zj_query_prepare(plan, sql, nargs, types);
	return zj_query_result(SPI_execute_snapshot(*plan, values, nulls,
												GetLatestSnapshot(),
												InvalidSnapshot, false,
												true, 0));
}

char *
zj_query_text(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

TimestampTz
zj_query_time(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? 0 : DatumGetTimestampTz(d);
}

int32
zj_query_int4(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

/* A one-dimensional array of n values of type elemtype (nulls may be NULL). */
Datum
zj_query_array(Datum *values, bool *nulls, int n, Oid elemtype)
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

bool
zj_query_bool(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return !isnull && DatumGetBool(d);
}

int64
zj_query_int8(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

Oid
zj_query_oid(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? InvalidOid : DatumGetObjectId(d);
}

/*
 * Run fn(arg) in a transaction of its own; an error is logged and rolled
 * back and false returned: for the launcher, whose other duties must go
 * on whatever one of them meets.
 */
bool
zj_query_own_xact(void (*fn) (void *arg), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		zj_query_xact_begin();
		fn(arg);
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	return ok;
}
