/*-------------------------------------------------------------------------
 *
 * utility.h
 *	  The hook on statements that change which databases are served
 *	  (utility.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_UTILITY_H
#define ZAPJOBS_UTILITY_H

#include "zapjobs.h"

extern void zj_utility_install_hook(void);

#endif							/* ZAPJOBS_UTILITY_H */
