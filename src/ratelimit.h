/*-------------------------------------------------------------------------
 *
 * ratelimit.h
 *	  Rate limits: at most so many starts per window, per queue or job
 *	  name (ratelimit.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_RATELIMIT_H
#define ZAPJOBS_RATELIMIT_H

#include "datatype/timestamp.h"

/*
 * For the limits query (claim.c): the queues (scope 'queue') or job names
 * (scope 'name') under a rate limit, and those whose window is full now.
 */
#define ZJ_RATE_LIMITED(scope) \
	"SELECT l.name FROM jobs.rate_limits l WHERE l.scope = '" scope "'"
#define ZJ_RATE_FULL(scope) \
	"SELECT l.name FROM jobs.rate_limits l JOIN jobs.rate_starts s" \
	" ON s.scope = l.scope AND s.name = l.name AND s.slot = l.next_slot" \
	" WHERE l.scope = '" scope "' AND s.started_at > pg_catalog.now() - l.per"

/* When the first full window frees: a scalar subquery. */
#define ZJ_RATE_FREE_AT \
	"SELECT min(s.started_at + l.per) FROM jobs.rate_limits l JOIN jobs.rate_starts s" \
	" ON s.scope = l.scope AND s.name = l.name AND s.slot = l.next_slot" \
	" WHERE s.started_at > pg_catalog.now() - l.per"

extern bool zj_ratelimit_room(bool queue, const char *key);
extern void zj_ratelimit_note_full(TimestampTz free_at);
extern void zj_ratelimit_forget(void);
extern void zj_ratelimit_take(int64 run_id);
extern TimestampTz zj_ratelimit_next_free(void);
extern long zj_ratelimit_wait_ms(long sleep_ms);

#endif							/* ZAPJOBS_RATELIMIT_H */
