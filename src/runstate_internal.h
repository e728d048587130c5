/*-------------------------------------------------------------------------
 *
 * runstate_internal.h
 *	  What the two files of the run-state module share: the transition
 *	  table (runstate.c) and the helpers every transition's statement is
 *	  built and checked with.  runstate.c holds the table, enqueue, the
 *	  launcher's and jobs.cancel/retry's transitions; runstate_attempt.c
 *	  those of a worker's attempts.  Nothing else includes this header.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_RUNSTATE_INTERNAL_H
#define ZAPJOBS_RUNSTATE_INTERNAL_H

#include "executor/spi.h"

#include "runstate.h"

typedef enum ZjTransition
{
	ZJ_TR_ENQUEUE,
	ZJ_TR_RELEASE,
	ZJ_TR_CANCEL_DEPENDENT,
	ZJ_TR_REVIVE,
	ZJ_TR_PROMOTE,
	ZJ_TR_CLAIM,
	ZJ_TR_COMPLETE,
	ZJ_TR_COMPLETE_LOCKED,
	ZJ_TR_END_ATTEMPT,
	ZJ_TR_END_LOCKED,
	ZJ_TR_REQUEUE,
	ZJ_TR_FAIL_UNSERVED,
	ZJ_TR_CANCEL,
	ZJ_TR_RETRY,
	ZJ_TR_COUNT
} ZjTransition;

typedef struct ZjTransitionRule
{
	const char *what;			/* for error messages */
	uint32		from;			/* states it may start from; 0: a new run */
	uint32		to;				/* states it may lead to */
} ZjTransitionRule;

#define S(state) (1U << ZJ_RUN_##state)


/* Columns every transition returns, to describe its event. */
#define ZJ_EVENT_COLUMNS \
	"r.id, r.status, r.attempt, r.max_attempts, r.name, r.queue, " \
	"r.run_at, r.started_at, r.finished_at, r.error_sqlstate, r.workflow"
#define ZJ_EVENT_NCOLS 11

/* A completed run keeps the errors of earlier attempts in jobs.attempts only. */
#define ZJ_CLEAR_ERROR \
	" error_sqlstate = NULL, error_message = NULL, error_detail = NULL," \
	" error_hint = NULL, error_context = NULL"

/* SET list storing a run's last progress from 7 parameters from $first. */
#define ZJ_SET_PROGRESS \
	" progress_current = coalesce($%d, r.progress_current)," \
	" progress_total = coalesce($%d, r.progress_total)," \
	" progress_message = coalesce($%d, r.progress_message)," \
	" items_processed = coalesce($%d, r.items_processed)," \
	" items_succeeded = coalesce($%d, r.items_succeeded)," \
	" items_failed = coalesce($%d, r.items_failed)," \
	" progress_at = coalesce($%d, r.progress_at)"
#define ZJ_PROGRESS_ARGS(first) (first), (first) + 1, (first) + 2, \
	(first) + 3, (first) + 4, (first) + 5, (first) + 6
#define ZJ_PROGRESS_NARGS 7
#define ZJ_PROGRESS_TYPES INT8OID, INT8OID, TEXTOID, INT8OID, INT8OID, \
	INT8OID, TIMESTAMPTZOID

extern const ZjTransitionRule zj_runstate_rules[ZJ_TR_COUNT];

extern void zj_runstate_check(ZjTransition t, ZjRunStatus to);
extern char *zj_runstate_where(ZjTransition t, const char *alias, bool by_id);
extern char *zj_runstate_sql(SPIPlanPtr plan, const char *sql, ZjTransition t,
							 const char *alias, bool by_id);
extern void zj_runstate_record(ZjTransition t, HeapTuple tup, TupleDesc desc,
							   int first);
extern void zj_runstate_record_all(ZjTransition t);
extern void zj_runstate_record_running(HeapTuple tup, TupleDesc desc);
extern ArrayType *zj_runstate_with_dependents(int col, MemoryContext cxt);

/*
 * The reason a run was cancelled for its parent (the SQL expression id);
 * an enqueue writes the same words from C (zj_runstate_insert_params), so
 * that the INSERT of every run does not carry this subquery.
 */
#define ZJ_PARENT_REASON(id) \
	"'parent run ' || " id " || CASE (SELECT q.status FROM jobs.runs q WHERE q.id = " id ")" \
	" WHEN 'failed' THEN ' failed' ELSE ' was cancelled' END"

/* runstate_deps.c, for runstate_retry.c */
#define ZJ_FINISHED "('completed', 'failed', 'cancelled')"
/*
 * Parent p keeps its child from running: it failed or was cancelled, and
 * the child does not run anyway (run_anyway: on_parent_failure = 'run'),
 * or a user cancelled it (a cancel cancels clean-up steps too).
 */
#define ZJ_BLOCKS(p, run_anyway) \
	p ".status IN ('failed', 'cancelled') AND (NOT " run_anyway " OR " p ".cancel_requested)"
extern Datum zj_runstate_parents_of(Datum ids);
extern void zj_runstate_record_ready(ZjTransition t);

#endif							/* ZAPJOBS_RUNSTATE_INTERNAL_H */
