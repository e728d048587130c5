/*-------------------------------------------------------------------------
 *
 * launcher.h
 *	  A database's launcher background worker (launcher.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_LAUNCHER_H
#define ZAPJOBS_LAUNCHER_H

#include "zapjobs.h"

extern PGDLLEXPORT void zj_launcher_main(Datum arg);

#endif							/* ZAPJOBS_LAUNCHER_H */
