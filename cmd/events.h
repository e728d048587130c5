/*-------------------------------------------------------------------------
 * events.h
 *	  job_update notifications, as the zapjobs command receives them.
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_EVENTS_H
#define ZJC_EVENTS_H

#include <stdbool.h>

#include "conn.h"

typedef enum EventType
{
	EVENT_RUN,					/* a run's state changed */
	EVENT_RUNS,					/* many runs changed: a summary */
	EVENT_PROGRESS,
	EVENT_LOG,
	EVENT_WORKER,
	EVENT_OTHER
} EventType;

/* One event; fields the payload does not carry are zero or have_* false. */
typedef struct Event
{
	EventType	type;
	long long	id;				/* run (run, progress, log) */
	long long	first_id;		/* runs: the range summarized */
	long long	last_id;
	char		status[32];		/* run, runs */
	int			attempt;		/* run */
	int			max_attempts;	/* run */
	long long	log_id;			/* log */
	bool		have_current;	/* progress */
	long long	current;
	bool		have_total;
	long long	total;
	long long	processed;
	bool		have_message;
	char		message[1024];
	long long	count;			/* runs: how many runs it summarizes */
	char		started_at[40]; /* run: ISO 8601 times, "" when unset */
	char		finished_at[40];
	char		role[64];		/* worker: its role */
	const char *raw;			/* the payload as published (valid in fn only) */
} Event;

/* Does the event concern run id? */
extern bool events_about(const Event *ev, long long id);

typedef void (*events_fn) (const Event *ev, void *arg);

/* LISTEN job_update and learn the launcher's pid; false if the connection is gone. */
extern bool events_listen(Conn *c);

/* What events_wait saw. */
#define EVENTS_GOT			0x01	/* at least one event was passed to fn */
#define EVENTS_TIMEOUT		0x04
#define EVENTS_LOST			0x08	/* the connection is gone */
#define EVENTS_INTERRUPTED	0x10	/* Ctrl-C or SIGTERM (conn_catch_interrupts) */
#define EVENTS_UNTRUSTED	0x20	/* a notification not from the launcher was dropped */

/*
 * Wait up to timeout_ms (-1: no limit) for notifications, an interrupt or
 * extra_fd (-1: none) to be readable (the caller reads it: no flag says so).  Every event the launcher sent is parsed and
 * passed to fn (NULL: only tell EVENTS_GOT, parse nothing); notifications
 * from any other backend are forged or stray and are dropped.
 */
extern int	events_wait(Conn *c, int timeout_ms, int extra_fd, events_fn fn, void *arg);

#endif
