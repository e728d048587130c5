/*-------------------------------------------------------------------------
 *
 * claim.h
 *	  Which pending run a worker takes next, paused queues and concurrency
 *	  limits included (claim.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_CLAIM_H
#define ZAPJOBS_CLAIM_H

#include "run.h"

#include "nodes/pg_list.h"

typedef enum ZjClaimResult
{
	ZJ_CLAIM_NONE = 0,			/* nothing to claim */
	ZJ_CLAIMED,					/* *run claimed */
	ZJ_CLAIM_AGAIN				/* a limit got in the way: roll back, and
								 * claim again in a new transaction */
} ZjClaimResult;

extern ZjClaimResult zj_claim_next(Oid role, int64 only_id, MemoryContext cxt,
								   ZjRun **run);
extern List *zj_claim_lock_pending(Oid role, int n, MemoryContext cxt);
extern void zj_claim_rewind(void);

extern void zj_claim_blocked(Datum *queues, Datum *names);
extern bool zj_claim_limits_active(void);
extern void zj_claim_limits_refresh(void);

extern int	zj_claim_demand(Oid *roles, int *pending, int max, int cap);

#endif							/* ZAPJOBS_CLAIM_H */
