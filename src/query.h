/*-------------------------------------------------------------------------
 *
 * query.h
 *	  Running zapjobs' own statements (query.c): safe mode, prepared plans,
 *	  zapjobs' own transactions, column readers.  Knows no run states.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_QUERY_H
#define ZAPJOBS_QUERY_H

#include "zapjobs.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "executor/spi.h"
#include "utils/timestamp.h"

/* A nullable text parameter. */
#define ZJ_TEXT_PARAM(values, nulls, i, str) \
	do { \
		(values)[i] = (str) ? CStringGetTextDatum(str) : (Datum) 0; \
		(nulls)[i] = (str) ? ' ' : 'n'; \
	} while (0)

extern void zj_query_install_planner(void);
extern void zj_query_xact_begin(void);
extern bool zj_query_own_xact(void (*fn) (void *arg), void *arg);
extern void zj_query_begin(void);
extern void zj_query_end(void);
extern int	zj_query_exec_latest(SPIPlanPtr *plan, const char *sql, int nargs,
								 Oid *types, Datum *values, const char *nulls);
extern int	zj_query_exec(SPIPlanPtr *plan, const char *sql, int nargs,
						  Oid *types, Datum *values, const char *nulls);
extern char *zj_query_text(HeapTuple tup, TupleDesc desc, int col);
extern TimestampTz zj_query_time(HeapTuple tup, TupleDesc desc, int col);
extern int32 zj_query_int4(HeapTuple tup, TupleDesc desc, int col);
extern bool zj_query_bool(HeapTuple tup, TupleDesc desc, int col);
extern int64 zj_query_int8(HeapTuple tup, TupleDesc desc, int col);
extern Oid	zj_query_oid(HeapTuple tup, TupleDesc desc, int col);
extern Datum zj_query_array(Datum *values, bool *nulls, int n, Oid elemtype);

#endif							/* ZAPJOBS_QUERY_H */
