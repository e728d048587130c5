/*-------------------------------------------------------------------------
 *
 * reaper.h
 *	  Ending the attempts whose worker is gone (reaper.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_REAPER_H
#define ZAPJOBS_REAPER_H

#include "zapjobs.h"

extern int	zj_reaper_run(void);

#endif							/* ZAPJOBS_REAPER_H */
