/*-------------------------------------------------------------------------
 *
 * cron.c
 *	  Schedules: 5-field cron expressions (lists, ranges, steps, month and
 *	  day names, $ for the last day of the month as in pg_cron, @hourly and
 *	  friends) evaluated in a time zone, plain intervals ('every 30
 *	  seconds', '1 hour'), and @reboot, which has no time: it fires once
 *	  after each server start (schedule.c).  jobs.next_run() exposes the
 *	  calculation.
 *
 *	  Cron fires on local wall-clock times.  Across daylight-saving
 *	  changes: a local time that does not exist that day (the clock jumps
 *	  over it) fires once, at the instant the jump happens; a local time
 *	  that happens twice (the clock goes back) fires once, the first time.
 *	  As in Vixie cron, when both day of month and day of week are
 *	  restricted, a day matching either fires.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "common/int.h"
#include "datatype/timestamp.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "cron.h"

PG_FUNCTION_INFO_V1(zj_next_run);

#define ZJ_CRON_SEARCH_DAYS (366 * 9)	/* Feb 29 of some leap year */
#define ZJ_CRON_LAST_DAY	0	/* bit of doms for $: days count from 1 */

typedef struct ZjCronField
{
	const char *what;
	int			min;
	int			max;
	const char *const *names;	/* names for min..., or NULL */
} ZjCronField;

static const char *const zj_cron_month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", NULL
};
static const char *const zj_cron_day_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

static const ZjCronField zj_cron_fields[5] = {
	{"minute", 0, 59, NULL},
	{"hour", 0, 23, NULL},
	{"day of month", 1, 31, NULL},
	{"month", 1, 12, zj_cron_month_names},
	{"day of week", 0, 7, zj_cron_day_names},
};

static const struct
{
	const char *macro;
	const char *expansion;
}			zj_cron_macros[] = {
	{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"},
	{"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
	{"@daily", "0 0 * * *"}, {"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
};

static void pg_attribute_noreturn()
zj_cron_error(const char *text, int pos, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid schedule \"%s\"", text),
			 errdetail("At character %d: %s.", pos + 1, problem),
			 errhint("Use 5 cron fields (minute hour day-of-month month day-of-week), "
					 "a macro such as @daily, or an interval such as 'every 30 seconds'.")));
}

/* A number or a name of field f at *p; advances *p. */
static int
zj_cron_value(const char *text, const char **p, const ZjCronField *f)
{
	const char *start = *p;
	int			v = 0;
	int			i;

	if (isdigit((unsigned char) **p))
	{
		while (isdigit((unsigned char) **p) && v < 1000)
			v = v * 10 + (*(*p)++ - '0');
	}
	else
	{
		for (i = 0; f->names != NULL && f->names[i] != NULL; i++)
			if (pg_strncasecmp(*p, f->names[i], 3) == 0 && !isalpha((unsigned char) (*p)[3]))
				break;
		if (f->names == NULL || f->names[i] == NULL)
			zj_cron_error(text, start - text,
						  psprintf("expected a %s%s", f->what,
								   f->names ? " (number or three-letter name)" : ""));
		*p += 3;
		v = i + f->min;
	}
	if (v < f->min || v > f->max)
		zj_cron_error(text, start - text,
					  psprintf("%s %d is out of range %d-%d", f->what, v, f->min, f->max));
	return v;
}

/* One comma-separated item: *, a, a-b, with an optional /step. */
static uint64
zj_cron_item(const char *text, const char **p, const ZjCronField *f)
{
	int			lo = f->min;
	int			hi = f->max;
	int			step = 1;
	uint64		bits = 0;
	int			v;

	/* $, the month's last day, stands alone: no range or step from it. */
	if (**p == '$' && f == &zj_cron_fields[2])
	{
		(*p)++;
		if (**p == '-' || **p == '/')
			zj_cron_error(text, *p - text, "$ (the last day of the month) takes no range or step");
		return UINT64CONST(1) << ZJ_CRON_LAST_DAY;
	}
	if (**p == '*')
		(*p)++;
	else
	{
		lo = hi = zj_cron_value(text, p, f);
		if (**p == '-')
		{
			(*p)++;
			hi = zj_cron_value(text, p, f);
			if (hi < lo)
				zj_cron_error(text, *p - text - 1, "a range must not go backwards");
		}
		else if (**p == '/')
			hi = f->max;		/* "a/step": from a to the end */
	}
	if (**p == '/')
	{
		const char *start = ++(*p);

		step = 0;
		while (isdigit((unsigned char) **p) && step < 1000)
			step = step * 10 + (*(*p)++ - '0');
		if (step < 1 || *p == start)
			zj_cron_error(text, start - text, "expected a step of at least 1");
		/* A longer step only ever meets its start: Vixie cron refuses it. */
		if (step > f->max)
			zj_cron_error(text, start - text,
						  psprintf("a %s step must be at most %d", f->what, f->max));
	}
	for (v = lo; v <= hi; v += step)
		bits |= UINT64CONST(1) << v;
	return bits;
}

/* Parse field f from *p up to whitespace; returns its bit set. */
static uint64
zj_cron_field(const char *text, const char **p, const ZjCronField *f, bool *star)
{
	uint64		bits = 0;

	/* As in Vixie cron and pg_cron, a field starting with a star (a step too) is unrestricted. */
	*star = **p == '*';
	for (;;)
	{
		bits |= zj_cron_item(text, p, f);
		if (**p != ',')
			break;
		(*p)++;
	}
	if (**p != '\0' && !isspace((unsigned char) **p))
		zj_cron_error(text, *p - text,
					  psprintf("unexpected \"%c\" in the %s field", **p, f->what));
	return bits;
}

static void
zj_cron_parse_fields(const char *text, const char *fields, ZjSchedule *s)
{
	const char *p = fields;
	uint64		bits[5];
	bool		star[5];
	int			i;

	for (i = 0; i < 5; i++)
	{
		while (isspace((unsigned char) *p))
			p++;
		if (*p == '\0')
			zj_cron_error(text, strlen(text),
						  psprintf("expected 5 fields, found %d", i));
		bits[i] = zj_cron_field(text, &p, &zj_cron_fields[i], &star[i]);
	}
	while (isspace((unsigned char) *p))
		p++;
	if (*p != '\0')
		zj_cron_error(text, p - text, "expected 5 fields, found more");
	s->minutes = bits[0];
	s->hours = (uint32) bits[1];
	s->doms = (uint32) bits[2];
	s->months = (uint32) bits[3];
	s->dows = (uint32) (bits[4] | ((bits[4] >> 7) & 1));	/* 7 is Sunday too */
	s->dom_star = star[2];
	s->dow_star = star[4];
}

static int
zj_cron_count_fields(const char *p)
{
	int			n = 0;

	while (*p)
	{
		while (isspace((unsigned char) *p))
			p++;
		if (*p == '\0')
			break;
		n++;
		while (*p && !isspace((unsigned char) *p))
			p++;
	}
	return n;
}

/*
 * An interval literal, or NULL if text is not one.  Its error is caught
 * without a subtransaction: interval_in only parses and allocates (no
 * lock, buffer, file or catalog access to release), so flushing the error
 * leaves nothing behind.  PostgreSQL 16's soft errors would say so
 * without a PG_TRY.
 */
static Interval *
zj_cron_interval_from_text(const char *text)
{
	MemoryContext cxt = CurrentMemoryContext;
	Interval   *iv = NULL;

	PG_TRY();
	{
		iv = DatumGetIntervalP(DirectFunctionCall3(interval_in,
												   CStringGetDatum(text),
												   ObjectIdGetDatum(InvalidOid),
												   Int32GetDatum(-1)));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		iv = NULL;
	}
	PG_END_TRY();
	return iv;
}

/*
 * An interval in microseconds (months of 30 days), in the arithmetic it is
 * used in: false if that overflows, whatever the sign of its parts.
 */
static bool
zj_cron_interval_usecs(const Interval *iv, int64 *us)
{
	int64		days;
	int64		day_us;

	return !pg_mul_s64_overflow((int64) iv->month, DAYS_PER_MONTH, &days) &&
		!pg_add_s64_overflow(days, iv->day, &days) &&
		!pg_mul_s64_overflow(days, USECS_PER_DAY, &day_us) &&
		!pg_add_s64_overflow(day_us, iv->time, us);
}

/* 'every 30 seconds' or an interval literal: true if text is one. */
static bool
zj_cron_parse_interval(const char *text, ZjSchedule *s)
{
	const char *lit = text;
	Interval   *iv;

	while (isspace((unsigned char) *lit))
		lit++;
	if (pg_strncasecmp(lit, "every ", 6) == 0)
		lit += 6;
	else if (zj_cron_count_fields(lit) == 5)
		return false;			/* cron fields */
	iv = zj_cron_interval_from_text(lit);
	if (iv == NULL)
	{
		if (lit == text)
			return false;
		zj_cron_error(text, lit - text, "expected an interval such as '30 seconds'");
	}
	/* Out of range both ways: a huge negative count overflows too. */
	if (!zj_cron_interval_usecs(iv, &s->interval_us))
		s->interval_us = iv->month < 0 || iv->day < 0 || iv->time < 0 ? 0 : PG_INT64_MAX;
	if (s->interval_us > (int64) 100 * 365 * USECS_PER_DAY)
		zj_cron_error(text, lit - text, "an interval schedule must be at most 100 years");
	if (s->interval_us < USECS_PER_SEC)
		zj_cron_error(text, lit - text, "an interval schedule must be at least 1 second");
	s->is_interval = true;
	return true;
}

/* Parse a schedule; raises a clear error with the position of a mistake. */
void
zj_cron_parse(const char *text, ZjSchedule *s)
{
	int			i;

	memset(s, 0, sizeof(*s));
	if (text[0] == '@')
	{
		/* Fires once after each server start, no time (schedule.c). */
		if (pg_strcasecmp(text, "@reboot") == 0)
		{
			s->at_reboot = true;
			return;
		}
		for (i = 0; i < lengthof(zj_cron_macros); i++)
			if (pg_strcasecmp(text, zj_cron_macros[i].macro) == 0)
			{
				zj_cron_parse_fields(text, zj_cron_macros[i].expansion, s);
				return;
			}
		zj_cron_error(text, 0, "unknown macro; use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @reboot");
	}
	if (zj_cron_parse_interval(text, s))
		return;
	zj_cron_parse_fields(text, text, s);
}

/* zapjobs.timezone must name a time zone. */
bool
zj_cron_check_timezone(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || pg_tzset(*newval) == NULL)
	{
		GUC_check_errdetail("\"%s\" is not a known time zone.", *newval ? *newval : "");
		return false;
	}
	return true;
}

/* The time zone by name, or zapjobs.timezone's for NULL; clear error if unknown. */
pg_tz *
zj_cron_timezone(const char *name)
{
	pg_tz	   *tz;

	if (name == NULL)
		name = zj_timezone;
	tz = pg_tzset(name);
	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not recognized", name),
				 errhint("Use a name from pg_timezone_names, such as 'Europe/London'.")));
	return tz;
}

/* UTC offset (seconds east) in effect at instant t. */
static long
zj_cron_offset(TimestampTz t, pg_tz *tz)
{
	pg_time_t	tt = (pg_time_t) timestamptz_to_time_t(t);

	return pg_localtime(&tt, tz)->tm_gmtoff;
}

/* The first instant at or after lo whose offset is not that of lo. */
static TimestampTz
zj_cron_transition(TimestampTz lo, TimestampTz hi, pg_tz *tz)
{
	long		before = zj_cron_offset(lo, tz);

	while (hi - lo > USECS_PER_SEC)
	{
		TimestampTz mid = lo + (hi - lo) / 2;

		if (zj_cron_offset(mid, tz) == before)
			lo = mid;
		else
			hi = mid;
	}
	return hi - hi % USECS_PER_SEC;
}

/*
 * The instant local time `local` (a timestamp read as UTC) happens in tz:
 * its first occurrence, or, if the clock jumps over it, the instant of
 * the jump.
 */
static TimestampTz
zj_cron_instant(Timestamp local, pg_tz *tz)
{
	long		o1 = zj_cron_offset(local - USECS_PER_DAY, tz);
	long		o2 = zj_cron_offset(local + USECS_PER_DAY, tz);
	TimestampTz t1 = local - (int64) o1 * USECS_PER_SEC;
	TimestampTz t2 = local - (int64) o2 * USECS_PER_SEC;
	bool		ok1 = zj_cron_offset(t1, tz) == o1;
	bool		ok2 = zj_cron_offset(t2, tz) == o2;

	if (ok1 && ok2)
		return Min(t1, t2);
	if (ok1)
		return t1;
	if (ok2)
		return t2;
	/* A gap: from t2 (before it, old offset) to t1 (after it). */
	return zj_cron_transition(Min(t1, t2) - USECS_PER_DAY / 2, Max(t1, t2), tz);
}

static bool
zj_cron_day_matches(const ZjSchedule *s, int year, int month, int mday, int wday)
{
	bool		dom = ((s->doms >> mday) & 1) ||
		(((s->doms >> ZJ_CRON_LAST_DAY) & 1) && mday == day_tab[isleap(year)][month - 1]);
	bool		dow = (s->dows >> wday) & 1;

	if (s->dom_star || s->dow_star)
		return dom && dow;
	return dom || dow;
}

/* The first firing of a cron schedule after `after`, or 0 within years. */
static TimestampTz
zj_cron_next_match(const ZjSchedule *s, TimestampTz after, pg_tz *tz)
{
	pg_time_t	tt = (pg_time_t) timestamptz_to_time_t(after);
	struct pg_tm lt = *pg_localtime(&tt, tz);
	int			julian = date2j(lt.tm_year + 1900, lt.tm_mon + 1, lt.tm_mday);
	int			first_minute = lt.tm_hour * 60 + lt.tm_min;
	int			d;

	for (d = 0; d < ZJ_CRON_SEARCH_DAYS; d++)
	{
		int			y, m, md, minute;

		j2date(julian + d, &y, &m, &md);
		if (!((s->months >> m) & 1) || !zj_cron_day_matches(s, y, m, md, j2day(julian + d)))
			continue;
		/* Today: from the minute of `after` (its later seconds may be past). */
		for (minute = d == 0 ? first_minute : 0; minute < 24 * 60; minute++)
		{
			struct pg_tm tm;
			Timestamp	local;
			TimestampTz t;

			if (!((s->hours >> (minute / 60)) & 1) || !((s->minutes >> (minute % 60)) & 1))
				continue;
			memset(&tm, 0, sizeof(tm));
			tm.tm_year = y;
			tm.tm_mon = m;
			tm.tm_mday = md;
			tm.tm_hour = minute / 60;
			tm.tm_min = minute % 60;
			if (tm2timestamp(&tm, 0, NULL, &local) != 0)
				return 0;
			t = zj_cron_instant(local, tz);
			if (t > after)
				return t;
		}
	}
	return 0;
}

/* The first firing after `after`; 0 if the schedule never fires again. */
TimestampTz
zj_cron_next(const ZjSchedule *s, TimestampTz after, pg_tz *tz)
{
	if (s->at_reboot)
		return 0;
	if (s->is_interval)
		return after + s->interval_us;
	return zj_cron_next_match(s, after, tz);
}

/* jobs.next_run(schedule text, after timestamptz, timezone text DEFAULT NULL) */
Datum
zj_next_run(PG_FUNCTION_ARGS)
{
	ZjSchedule	s;
	pg_tz	   *tz;
	TimestampTz next;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	zj_cron_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &s);
	tz = zj_cron_timezone(PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2)));
	next = zj_cron_next(&s, PG_GETARG_TIMESTAMPTZ(1), tz);
	if (next == 0)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(next);
}
