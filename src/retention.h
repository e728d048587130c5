/*-------------------------------------------------------------------------
 *
 * retention.h
 *	  Removing finished runs once their time is up (retention.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_RETENTION_H
#define ZAPJOBS_RETENTION_H

#include "zapjobs.h"

/* Runs removed, ever: the launcher vacuums by it too. */
extern uint64 zj_retention_removed;

extern void zj_retention_run(uint64 finished);

#endif							/* ZAPJOBS_RETENTION_H */
