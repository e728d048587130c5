/*-------------------------------------------------------------------------
 *
 * runctx.h
 *	  A pool worker's own state that its executors share (runctx.c): its
 *	  slot in shared memory, its role, the run it executes and the memory
 *	  that run lives in.  As PostgreSQL's replication/worker_internal.h is
 *	  for logical replication workers: the executors (attempt.c, batch.c,
 *	  shell.c) and the functions a job calls on itself get what they need
 *	  here, never from worker.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_RUNCTX_H
#define ZAPJOBS_RUNCTX_H

#include "run.h"
#include "shmem.h"

/* Reset after every run (or batch): holds runs, parse trees, outputs. */
extern MemoryContext zj_runctx_cxt;

/* The run being executed, for jobs.input() and friends; NULL when idle. */
extern ZjRun *zj_runctx_run;

extern void zj_runctx_init(int slotno, Oid role);
extern ZjWorkerSlot *zj_runctx_slot(void);
extern Oid	zj_runctx_role(void);

/* The slot as others see it */
extern void zj_runctx_set_state(ZjSlotState state, int64 run_id,
								TimestampTz deadline);
extern void zj_runctx_set_deadline(TimestampTz deadline);
extern void zj_runctx_set_claimed(int64 run_id);
extern void zj_runctx_set_cursor(const ZjRun *position);
extern void zj_runctx_set_cursor_id(int64 id);
extern void zj_runctx_count(bool completed);
extern void zj_runctx_heartbeat_start(void);
extern void zj_runctx_heartbeat_arm(void);
extern void zj_runctx_heartbeat(void);
extern void zj_runctx_heartbeat_stop(void);

/* What a run a batch has only locked may not do (see batch.c) */
extern bool zj_runctx_may_report(void);
extern void zj_runctx_check_sees_runs(const char *what);
extern bool zj_runctx_locked_run_reported(void);
extern void zj_runctx_forget_reported(void);

#endif							/* ZAPJOBS_RUNCTX_H */
