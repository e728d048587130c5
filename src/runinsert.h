/*-------------------------------------------------------------------------
 *
 * runinsert.h
 *	  A new run's row written straight into jobs.runs (runinsert.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_RUNINSERT_H
#define ZAPJOBS_RUNINSERT_H

extern bool zj_runinsert_row(Oid relid, const char *const *names, const Oid *types,
							 int nparams, const Datum *values, const char *nulls,
							 int64 *id);

#endif							/* ZAPJOBS_RUNINSERT_H */
