/*-------------------------------------------------------------------------
 *
 * run.h
 *	  The types that describe a run: its states, a run being executed, a
 *	  run about to be inserted, its live progress and the events its
 *	  changes publish.  Types only: the functions that act on runs are in
 *	  runstate.h (state changes), claim.h, reaper.h and events.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_RUN_H
#define ZAPJOBS_RUN_H

#include "zapjobs.h"

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

/* The states of a run; their text forms are what jobs.runs.status holds. */
typedef enum ZjRunStatus
{
	ZJ_RUN_SCHEDULED = 0,
	ZJ_RUN_PENDING,
	ZJ_RUN_RUNNING,
	ZJ_RUN_COMPLETED,
	ZJ_RUN_FAILED,
	ZJ_RUN_CANCELLED,
	ZJ_RUN_AWAITING_RETRY,
	ZJ_RUN_WAITING				/* for parents (depends_on) to finish */
} ZjRunStatus;

#define ZJ_RUN_NSTATUS (ZJ_RUN_WAITING + 1)

/*
 * A run's live progress, written by its worker without a lock: the writer
 * makes changecount odd, writes, makes it even again (with barriers); a
 * reader retries until it reads the same even count before and after.
 */
typedef struct ZjProgressValues
{
	int64		run_id;			/* run the values are of, 0 if none */
	int64		current;		/* -1: never set */
	int64		total;			/* -1: unknown */
	int64		processed;		/* item counters */
	int64		succeeded;
	int64		failed;
	TimestampTz at;				/* last change, 0 if none */
	char		name[ZJ_NAME_MAX];	/* the run's job name, "" if none */
	char		message[ZJ_MESSAGE_MAX];
} ZjProgressValues;

/*
 * A claimed run, as the worker executes it.  Lives in the worker's run
 * context (runctx.h): it must survive the job's own commits.
 */
typedef struct ZjRun
{
	int64		id;
	char	   *command;
	char	   *search_path;	/* enqueuer's search_path, or NULL */
	Jsonb	   *input;			/* or NULL */
	int32		attempt;		/* the attempt this execution is */
	int32		priority;		/* its place in the queue: priority, */
	TimestampTz run_at;			/* run_at, id (see claim.c) */
	int64		timeout_ms;
	const char *queue;
	const char *name;			/* or NULL */
	TimestampTz started_at;		/* when execution began (worker's clock) */
	TimestampTz deadline;		/* when its timeout expires */
	ZjProgressValues *progress; /* its progress when it ended, or NULL */
	bool		shell;			/* kind 'shell': /bin/sh -c command */
	bool		locked;			/* locked pending by a batch, not claimed:
								 * its outcome is written straight from
								 * pending (zj_runstate_complete_locked) */
	TimestampTz finished_at;	/* a locked run's end, until it is written */
	Jsonb	   *output;			/* its output, likewise */
} ZjRun;

/* A run to insert (jobs.enqueue, jobs.enqueue_many, a schedule's tick). */
typedef struct ZjNewRun
{
	const char *command;
	const char *queue;
	int32		priority;
	TimestampTz run_at;
	int32		max_attempts;
	Interval   *timeout;
	Jsonb	   *input;			/* or NULL */
	const char *name;			/* or NULL */
	const char *kind;
	Oid			owner;
	const char *search_path;
	const char *dedupe_key;		/* or NULL */
	Interval   *retry_base;
	double		retry_factor;
	Interval   *retry_max_delay;
	const char *workflow;		/* or NULL */
	int64	   *parents;		/* depends_on: sorted, distinct */
	int			nparents;
	bool		run_on_parent_failure;	/* on_parent_failure => 'run' */
	/* set from the parents when they are locked (runstate_deps.c) */
	int32		waiting_for;	/* parents not resolved yet */
	int64		cancelled_by;	/* a parent already failed: the run it blames */
	int64		failed_parent;	/* and that parent, */
	bool		parent_failed;	/* which failed (else: was cancelled) */
} ZjNewRun;

/*
 * One state change of a run, as published on the job_update channel; or,
 * with count > 1, a summary of the changes to runs run_id..last_id that
 * one transaction made (see events.c).  Captured in the committing
 * backend, published by the launcher.
 */
typedef enum ZjEventKind
{
	ZJ_EV_RUN = 0,				/* a state change (or a summary of many) */
	ZJ_EV_PROGRESS,				/* a run's progress */
	ZJ_EV_WORKER				/* a worker started or exited */
} ZjEventKind;

typedef struct ZjRunEvent
{
	ZjEventKind kind;
	int64		run_id;			/* the run; the lowest id of a summary */
	int64		last_id;		/* the highest id of a summary */
	int32		count;			/* runs this event stands for */
	ZjRunStatus status;			/* the status the run(s) moved to */
	int32		attempt;		/* attempt number, 0 before the first */
	int32		max_attempts;	/* the run's attempt limit */
	TimestampTz at;				/* when the change happened */
	TimestampTz run_at;			/* the run's due time */
	TimestampTz started_at;		/* 0 when unset */
	TimestampTz finished_at;	/* 0 when unset */
	char		name[ZJ_NAME_MAX];	/* job name, "" for none or mixed */
	char		queue[ZJ_NAME_MAX]; /* queue, "" for mixed */
	char		workflow[ZJ_NAME_MAX];	/* workflow, "" for none or mixed */
	char		sqlstate[6];	/* error code of a failure, else "" */
	/* ZJ_EV_PROGRESS: the values; ZJ_EV_WORKER: pid, role, started */
	int64		current;
	int64		total;
	int64		processed;
	int64		succeeded;
	int64		failed;
	int32		pid;
	Oid			role;
	bool		started;
	char		message[ZJ_MESSAGE_MAX];
} ZjRunEvent;

#endif							/* ZAPJOBS_RUN_H */
