/*-------------------------------------------------------------------------
 *
 * publisher.h
 *	  The launcher publishing events with NOTIFY (publisher.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_PUBLISHER_H
#define ZAPJOBS_PUBLISHER_H

#include "zapjobs.h"

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

/* Runs published as finished, ever. */
extern uint64 zj_publisher_finished;

extern void zj_publisher_run(void);
extern void zj_publisher_pace(void);
extern bool zj_publisher_caught_up(bool send);
extern void zj_publisher_notify(char **payloads, int n);
extern void zj_publisher_append_time(StringInfo buf, const char *key,
									 TimestampTz ts);

#endif							/* ZAPJOBS_PUBLISHER_H */
