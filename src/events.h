/*-------------------------------------------------------------------------
 *
 * events.h
 *	  Run events between the transaction that commits them and the
 *	  launcher that publishes them (events.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_EVENTS_H
#define ZAPJOBS_EVENTS_H

#include "run.h"

/* In the committing backend */
extern void zj_events_fill(ZjRunEvent *ev, int64 id, ZjRunStatus status,
						   int32 attempt, int32 max_attempts,
						   const char *name, const char *queue,
						   TimestampTz run_at, TimestampTz started_at,
						   TimestampTz finished_at, const char *sqlstate,
						   const char *workflow);
extern void zj_events_fill_progress(ZjRunEvent *ev, const ZjProgressValues *v,
									const char *name);
extern void zj_events_add(const ZjRunEvent *event);

/* Ring positions: reserved so far, and taken by the launcher up to */
extern uint64 zj_events_ring_head(void);
extern bool zj_events_ring_passed(uint64 position);
extern bool zj_events_ring_filling(void);

/* In the launcher */
extern void zj_events_drain_all(void);
extern void zj_events_add_local(const ZjRunEvent *ev);
extern ZjRunEvent *zj_events_backlog(int *n);
extern void zj_events_consumed(int n);

extern void zj_events_worker(pid_t pid, Oid role, bool started);

#endif							/* ZAPJOBS_EVENTS_H */
