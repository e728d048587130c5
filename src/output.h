/*-------------------------------------------------------------------------
 *
 * output.h
 *	  A run's output (output.c): its last statement's first row as jsonb,
 *	  or what it set with jobs.set_output() or "::output".
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_OUTPUT_H
#define ZAPJOBS_OUTPUT_H

#include "zapjobs.h"

#include "tcop/dest.h"
#include "utils/jsonb.h"

extern DestReceiver *zj_output_receiver(MemoryContext job_cxt);
extern void zj_output_reset(void);
extern void zj_output_begin_run(MemoryContext run_cxt);
extern void zj_output_set(Jsonb *value);
extern Jsonb *zj_output_result(void);
extern Jsonb *zj_output_bound(Jsonb *value);

#endif							/* ZAPJOBS_OUTPUT_H */
