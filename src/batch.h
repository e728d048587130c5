/*-------------------------------------------------------------------------
 *
 * batch.h
 *	  Several short runs in one transaction (batch.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_BATCH_H
#define ZAPJOBS_BATCH_H

#include "run.h"

#include "nodes/pg_list.h"

extern bool zj_batch_possible(ZjRun *run, List **parsetrees);
extern int64 zj_batch_execute(ZjRun *first, List *first_trees);

#endif							/* ZAPJOBS_BATCH_H */
