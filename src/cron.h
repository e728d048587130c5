/*-------------------------------------------------------------------------
 *
 * cron.h
 *	  Schedules: cron expressions, macros and intervals (cron.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_CRON_H
#define ZAPJOBS_CRON_H

#include "zapjobs.h"

#include "datatype/timestamp.h"
#include "utils/guc.h"

struct pg_tz;

typedef struct ZjSchedule
{
	bool		at_reboot;		/* '@reboot': no time of its own */
	bool		is_interval;	/* 'every 30 seconds': interval_us */
	int64		interval_us;
	uint64		minutes;		/* cron: bit per allowed value */
	uint32		hours;
	uint32		doms;
	uint32		months;
	uint32		dows;			/* 0 = Sunday */
	bool		dom_star;		/* day of month was '*' */
	bool		dow_star;		/* day of week was '*' */
} ZjSchedule;

extern void zj_cron_parse(const char *text, ZjSchedule *s);
extern bool zj_cron_check_timezone(char **newval, void **extra,
								   GucSource source);
extern struct pg_tz *zj_cron_timezone(const char *name);
extern TimestampTz zj_cron_next(const ZjSchedule *s, TimestampTz after,
								struct pg_tz *tz);

#endif							/* ZAPJOBS_CRON_H */
