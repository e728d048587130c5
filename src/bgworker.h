/*-------------------------------------------------------------------------
 *
 * bgworker.h
 *	  The background workers zapjobs registers (bgworker.c): the launcher
 *	  at server start, pool workers on demand.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_BGWORKER_H
#define ZAPJOBS_BGWORKER_H

#include "zapjobs.h"

#include "postmaster/bgworker.h"

extern void zj_bgworker_describe(BackgroundWorker *w, const char *function,
								 const char *name, const char *type);

#endif							/* ZAPJOBS_BGWORKER_H */
