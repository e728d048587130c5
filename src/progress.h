/*-------------------------------------------------------------------------
 *
 * progress.h
 *	  Live progress of running jobs in shared memory (progress.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_PROGRESS_H
#define ZAPJOBS_PROGRESS_H

#include "run.h"
#include "shmem.h"

/* In the worker */
extern void zj_progress_attach(ZjWorkerSlot *slot);
extern void zj_progress_begin_run(ZjRun *run);
extern void zj_progress_end_run(ZjRun *run);
extern void zj_progress_set(int64 current, int64 total, const char *message);

/* Anywhere */
extern bool zj_progress_read(ZjProgress *p, ZjProgressValues *out);
extern void zj_progress_clear(ZjProgress *p);

/* In the launcher */
extern long zj_progress_publish(void);
extern void zj_progress_store(void);

#endif							/* ZAPJOBS_PROGRESS_H */
