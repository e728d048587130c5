/*-------------------------------------------------------------------------
 *
 * runstate.h
 *	  Every change of a run's state (runstate.c): the transitions, written
 *	  down once as data, and the statements that make them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_RUNSTATE_H
#define ZAPJOBS_RUNSTATE_H

#include "run.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "utils/array.h"

#include "failure.h"

/* Statuses of runs that are not finished, as an SQL list. */
#define ZJ_UNFINISHED_STATUSES \
	"('waiting', 'scheduled', 'pending', 'running', 'awaiting_retry')"

/* The columns zj_runstate_copy_run reads: a run to execute. */
#define ZJ_RUN_COLUMNS \
	"r.id, r.status, r.attempt, r.max_attempts, r.name, r.queue, " \
	"r.run_at, r.started_at, r.finished_at, r.error_sqlstate, r.workflow, " \
	"r.command, " \
	"r.search_path, r.input, (extract(epoch FROM r.timeout) * 1000)::int8, " \
	"r.kind, r.priority"

extern const char *zj_runstate_name(ZjRunStatus status);
extern ZjRunStatus zj_runstate_from_name(const char *name);
extern bool zj_runstate_is_final(ZjRunStatus status);

/* enqueue without parents (runstate.c) */
extern int64 zj_runstate_insert(const ZjNewRun *run, bool *inserted);
extern ArrayType *zj_runstate_insert_many(const ZjNewRun *run,
										  ArrayType *inputs);

/* enqueue, with parents or not (runstate_deps.c) */
extern int64 zj_runstate_enqueue(ZjNewRun *run);
extern ArrayType *zj_runstate_enqueue_many(ZjNewRun *run, ArrayType *inputs);

/* the launcher; it promotes again while a full batch was promoted */
#define ZJ_PROMOTE_BATCH 1000
extern int	zj_runstate_promote_due(TimestampTz *next_due);
extern int	zj_runstate_fail_unserved(Oid role, const char *sqlstate,
									  const char *message, const char *hint);

/* runs that finished: what waits for them (runstate_deps.c) */
extern void zj_runstate_settle(ArrayType *parents, bool completed);
extern void zj_runstate_settle_one(int64 id, bool completed);
/* ...and those whose parents ended before their edges were there */
extern int	zj_runstate_recount_waiting(void);

/* a worker's attempts */
extern ZjRun *zj_runstate_claim(Oid role, int64 only_id, const ZjRun *after,
								MemoryContext cxt);
extern ZjRun *zj_runstate_copy_run(HeapTuple tup, TupleDesc desc,
								   MemoryContext cxt);
extern void zj_runstate_set_shell_pgid(ZjRun *run, pid_t pgid);
extern void zj_runstate_complete(ZjRun *run, Jsonb *output);
extern void zj_runstate_complete_locked(List *runs);
extern bool zj_runstate_end_attempt(ZjRun *run, const ZjFailure *f);
extern bool zj_runstate_requeue(int64 id, int32 attempt);

/* jobs.cancel, jobs.retry (runstate_retry.c) */
extern bool zj_runstate_cancel(int64 id);
extern bool zj_runstate_retry(int64 id);

#endif							/* ZAPJOBS_RUNSTATE_H */
