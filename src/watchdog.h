/*-------------------------------------------------------------------------
 *
 * watchdog.h
 *	  The launcher's backstop for jobs that will not stop (watchdog.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_WATCHDOG_H
#define ZAPJOBS_WATCHDOG_H

#include "zapjobs.h"

extern long zj_watchdog_run(void);

#endif							/* ZAPJOBS_WATCHDOG_H */
