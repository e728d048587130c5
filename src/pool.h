/*-------------------------------------------------------------------------
 *
 * pool.h
 *	  The launcher's worker pool (pool.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_POOL_H
#define ZAPJOBS_POOL_H

#include "zapjobs.h"

extern void zj_pool_reset(void);
extern void zj_pool_check_exits(bool *need_reap);
extern void zj_pool_balance(void);
extern void zj_pool_retire_all(void);

#endif							/* ZAPJOBS_POOL_H */
