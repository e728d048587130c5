/*-------------------------------------------------------------------------
 *
 * joblog.h
 *	  A run's log lines, from its worker to jobs.logs (joblog.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_JOBLOG_H
#define ZAPJOBS_JOBLOG_H

#include "run.h"
#include "shmem.h"

/* In the worker */
extern void zj_joblog_attach(ZjWorkerSlot *slot);
extern void zj_joblog_begin_run(ZjRun *run);
extern void zj_joblog_end_run(void);
extern void zj_joblog_forget_run(void);
extern void zj_joblog_line(const char *level, const char *message,
						   const char *context);
extern bool zj_joblog_level_valid(const char *level);

/* In the launcher */
extern void zj_joblog_drain(void);

#endif							/* ZAPJOBS_JOBLOG_H */
