/*-------------------------------------------------------------------------
 *
 * supervisor.h
 *	  The supervisor background worker (supervisor.c): one launcher per
 *	  database with the extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_SUPERVISOR_H
#define ZAPJOBS_SUPERVISOR_H

#include "zapjobs.h"

extern void zj_supervisor_register(void);
extern PGDLLEXPORT void zj_supervisor_main(Datum arg);

#endif							/* ZAPJOBS_SUPERVISOR_H */
