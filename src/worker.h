/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  A pool worker's entry point (worker.c); the pool (pool.c) passes
 *	  ZjWorkerArgs in bgw_extra.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_WORKER_H
#define ZAPJOBS_WORKER_H

#include "zapjobs.h"

typedef struct ZjWorkerArgs
{
	Oid			database;
	Oid			role;
	Oid			extension;
	uint32		generation;
} ZjWorkerArgs;

extern PGDLLEXPORT void zj_worker_main(Datum arg);

#endif							/* ZAPJOBS_WORKER_H */
