/*-------------------------------------------------------------------------
 *
 * attempt.h
 *	  One attempt of a run in a pool worker, from its start to its
 *	  recorded outcome (attempt.c); the executors (worker.c, batch.c,
 *	  shell.c) build on it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_ATTEMPT_H
#define ZAPJOBS_ATTEMPT_H

#include "run.h"

#include "utils/elog.h"

extern void zj_attempt_begin(ZjRun *run);
extern void zj_attempt_job_done(ZjRun *run);
extern void zj_attempt_end(ZjRun *run);
extern void zj_attempt_abandon(void);
extern int	zj_attempt_timeout_ms(ZjRun *run);
extern void zj_attempt_unwatch(void);
extern void zj_attempt_apply_search_path(ZjRun *run);
extern void zj_attempt_reset_session_state(void);
extern ErrorData *zj_attempt_catch_error(void);

/* Outcomes, in the caller's transaction */
extern void zj_attempt_complete(ZjRun *run);
extern void zj_attempt_fail(ZjRun *run, ErrorData *edata);
extern void zj_attempt_record_failure(ZjRun *run, ErrorData *edata);

#endif							/* ZAPJOBS_ATTEMPT_H */
