/*-------------------------------------------------------------------------
 *
 * sqlexec.h
 *	  Executing a job's SQL text as a client's simple query would
 *	  (sqlexec.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_SQLEXEC_H
#define ZAPJOBS_SQLEXEC_H

#include "zapjobs.h"

#include "nodes/pg_list.h"

extern List *zj_sqlexec_parse(const char *sql, MemoryContext job_cxt);
extern bool zj_sqlexec_batchable(List *parsetrees);
extern void zj_sqlexec_run(List *parsetrees, const char *sql,
						   MemoryContext job_cxt, bool nested);
extern void zj_sqlexec_execute(const char *sql, MemoryContext job_cxt);

#endif							/* ZAPJOBS_SQLEXEC_H */
