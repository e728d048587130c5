/*-------------------------------------------------------------------------
 *
 * schedule.h
 *	  Firing due schedules of jobs.definitions (schedule.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_SCHEDULE_H
#define ZAPJOBS_SCHEDULE_H

#include "zapjobs.h"

extern long zj_schedule_fire_due(void);
extern void zj_schedule_apply_cron_settings(void);

#endif							/* ZAPJOBS_SCHEDULE_H */
