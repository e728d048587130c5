/*-------------------------------------------------------------------------
 *
 * srf.h
 *	  Set-returning SQL functions that materialize their rows (srf.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_SRF_H
#define ZAPJOBS_SRF_H

#include "zapjobs.h"

#include "fmgr.h"
#include "access/tupdesc.h"
#include "utils/tuplestore.h"

extern Tuplestorestate *zj_srf_begin(FunctionCallInfo fcinfo, TupleDesc *desc);

#endif							/* ZAPJOBS_SRF_H */
