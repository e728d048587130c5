/*-------------------------------------------------------------------------
 *
 * bookkeeping.h
 *	  What the modules that query zapjobs' own tables (bookkeeping.c,
 *	  failure.c, limits.c, control.c) share: statement execution through
 *	  prepared plans, reading result columns, and recording events.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_BOOKKEEPING_H
#define ZAPJOBS_BOOKKEEPING_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "executor/spi.h"

/* Columns every transition returns, to describe its event. */
#define ZJ_EVENT_COLUMNS \
	"r.id, r.status, r.attempt, r.max_attempts, r.name, r.queue, " \
	"r.run_at, r.started_at, r.finished_at, r.error_sqlstate"
#define ZJ_EVENT_NCOLS 10

/*
 * "= 'pending'" for lookups by id.  Written so that it cannot prove the
 * claim index's predicate (a different collation; same result for this
 * ASCII word): with statistics from a moment the table was empty, the
 * planner would otherwise pick that index with id as a non-leading key and
 * walk all of it, instead of the primary key.
 */
#define ZJ_NOT_VIA_CLAIM_INDEX "= 'pending' COLLATE \"C\""

/* Columns to describe a run to execute (zj_book_copy_run). */
#define ZJ_LOCK_COLUMNS ZJ_EVENT_COLUMNS ", r.command, r.search_path," \
	" r.input, (extract(epoch FROM r.timeout) * 1000)::int8, r.kind"

/* Statuses of runs that are not finished. */
#define ZJ_UNFINISHED_STATUSES \
	"('scheduled', 'pending', 'running', 'awaiting_retry')"

extern int	zj_book_exec(SPIPlanPtr *plan, const char *sql, int nargs,
						 Oid *types, Datum *values, const char *nulls);
extern char *zj_book_text(HeapTuple tup, TupleDesc desc, int col);
extern TimestampTz zj_book_time(HeapTuple tup, TupleDesc desc, int col);
extern int32 zj_book_int4(HeapTuple tup, TupleDesc desc, int col);
extern void zj_book_record_event(HeapTuple tup, TupleDesc desc, int first);
extern void zj_book_record_events(int first);
extern ZjRun *zj_book_copy_run(HeapTuple tup, TupleDesc desc, MemoryContext cxt);
extern List *zj_book_locked_runs(MemoryContext cxt);

/* Plans locking pending runs for a batch: LIMIT 1, 2, 4, ..., 32. */
#define ZJ_LOCK_PLANS 6
extern int	zj_book_lock_limit(int n);
extern ZjClaimResult zj_book_claim_direct(Oid role, ZjRun **run,
										  MemoryContext cxt, int64 only_id);
extern void zj_book_record_running(HeapTuple tup, TupleDesc desc);

/*
 * SET list storing a run's last progress from 7 parameters (zj_book_
 * progress_params), each NULL when the attempt reported none.
 */
#define ZJ_SET_PROGRESS(a, b, c, d, e, f, g) \
	" progress_current = coalesce($" a ", r.progress_current)," \
	" progress_total = coalesce($" b ", r.progress_total)," \
	" progress_message = coalesce($" c ", r.progress_message)," \
	" items_processed = coalesce($" d ", r.items_processed)," \
	" items_succeeded = coalesce($" e ", r.items_succeeded)," \
	" items_failed = coalesce($" f ", r.items_failed)," \
	" progress_at = coalesce($" g ", r.progress_at)"
#define ZJ_PROGRESS_NARGS 7
#define ZJ_PROGRESS_TYPES INT8OID, INT8OID, TEXTOID, INT8OID, INT8OID, \
	INT8OID, TIMESTAMPTZOID

extern void zj_book_progress_params(ZjRun *run, Datum *values, char *nulls);
extern void zj_book_record_progress(ZjRun *run);

/* A nullable text parameter. */
#define ZJ_TEXT_PARAM(values, nulls, i, str) \
	do { \
		(values)[i] = (str) ? CStringGetTextDatum(str) : (Datum) 0; \
		(nulls)[i] = (str) ? ' ' : 'n'; \
	} while (0)

#endif							/* ZAPJOBS_BOOKKEEPING_H */
