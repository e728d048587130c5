/*-------------------------------------------------------------------------
 *
 * zapjobs.h
 *	  Types shared by the zapjobs modules: the shared-memory layout, run
 *	  states, run events, GUC variables and the functions each module
 *	  exports.  Every shared struct field carries a comment.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_H
#define ZAPJOBS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/spin.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "tcop/dest.h"
#include "utils/tuplestore.h"
#include "utils/timestamp.h"
#include "utils/guc.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#include "compat.h"

#define ZJ_EXTENSION_NAME	"zapjobs"
#define ZJ_SCHEMA			"jobs"
#define ZJ_NAME_MAX			64	/* queue and job names, incl. NUL */
#define ZJ_EVENT_RING_SIZE	8192	/* events buffered between commit and
									 * publishing */
#define ZJ_EVENT_BULK_MAX	1024	/* more changes in one transaction are
									 * published as summaries */
#define ZJ_MESSAGE_MAX		201		/* progress message, incl. NUL */
#define ZJ_LOG_RING_SIZE	32		/* log lines a worker buffers */
#define ZJ_LOG_TEXT_MAX		2048	/* log message and context, incl. NULs */

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

typedef struct ZjProgress
{
	pg_atomic_uint32 changecount;
	ZjProgressValues v;
} ZjProgress;

/* A log line on its way from a worker to jobs.logs (see joblog.c). */
typedef struct ZjLogLine
{
	int64		run_id;
	int32		attempt;
	char		name[ZJ_NAME_MAX];	/* the run's job name, "" if none */
	TimestampTz at;
	char		level[8];
	bool		has_context;
	char		text[ZJ_LOG_TEXT_MAX];	/* message, NUL, context JSON, NUL */
} ZjLogLine;

/* ---------------------------------------------------------------------
 * Run states.  The text forms are what jobs.runs.status holds.
 * ---------------------------------------------------------------------
 */
typedef enum ZjRunStatus
{
	ZJ_RUN_SCHEDULED = 0,
	ZJ_RUN_PENDING,
	ZJ_RUN_RUNNING,
	ZJ_RUN_COMPLETED,
	ZJ_RUN_FAILED,
	ZJ_RUN_CANCELLED,
	ZJ_RUN_AWAITING_RETRY
} ZjRunStatus;

extern const char *zj_status_name(ZjRunStatus status);
extern ZjRunStatus zj_status_from_name(const char *name);
extern bool zj_status_is_final(ZjRunStatus status);

/* ---------------------------------------------------------------------
 * Shared memory: worker slots, the event ring and per-backend markers.
 * ---------------------------------------------------------------------
 */
typedef enum ZjSlotState
{
	ZJ_SLOT_FREE = 0,			/* nobody uses it */
	ZJ_SLOT_STARTING,			/* registered by the launcher, not attached */
	ZJ_SLOT_IDLE,				/* worker attached, waiting for work */
	ZJ_SLOT_BUSY				/* worker executing run_id */
} ZjSlotState;

typedef struct ZjWorkerSlot
{
	ZjSlotState state;			/* see ZjSlotState */
	uint32		generation;		/* bumped each time the slot is reused */
	Oid			role;			/* role the worker is connected as */
	pid_t		pid;			/* worker pid once attached, else 0 */
	PGPROC	   *proc;			/* worker's PGPROC, for its latch */
	bool		retire;			/* launcher asks the worker to exit */
	int64		run_id;			/* run being executed, 0 if none */
	int64		claimed_id;		/* run claimed (committed as running) whose
								 * outcome is not committed yet, 0 if none:
								 * the reaper leaves it alone */
	TimestampTz state_since;	/* when state last changed */
	uint64		runs_done;		/* runs this worker finished */
	TimestampTz started_at;		/* when the launcher started this worker */
	TimestampTz deadline;		/* when run_id's timeout expires, or 0 */
	int64		cancel_id;		/* run jobs.cancel() asked to stop, or 0 */
	TimestampTz cancel_at;		/* when it asked */
	pg_atomic_uint64 heartbeat; /* TimestampTz of the last sign of life */
	pg_atomic_uint64 runs_completed;	/* runs this worker completed */
	pg_atomic_uint64 runs_failed;	/* attempts that did not complete */
	ZjProgress	progress;		/* live progress of run_id */
	pg_atomic_uint32 log_head;	/* log lines written (by the worker) */
	pg_atomic_uint32 log_tail;	/* log lines taken (by the launcher) */
	ZjLogLine	log[ZJ_LOG_RING_SIZE];
} ZjWorkerSlot;

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

/* States of a ring slot. */
#define ZJ_EVENT_FREE		0	/* read by the launcher (or never used) */
#define ZJ_EVENT_RESERVED	1	/* its transaction is committing */
#define ZJ_EVENT_READY		2	/* committed: event is valid */
#define ZJ_EVENT_VOID		3	/* its transaction aborted: skip */

typedef struct ZjRingEvent
{
	volatile uint32 state;		/* ZJ_EVENT_*; the owner writes it lock-free */
	ZjRunEvent	event;
} ZjRingEvent;

typedef struct ZjShared
{
	LWLock	   *lock;			/* protects slots[] */
	LWLock	   *ring_lock;		/* protects ring_head, ring_tail */

	uint64		epoch;			/* differs after every shared-memory reset */
	Oid			database;		/* database the launcher serves, or 0 */
	Oid			extension;		/* zapjobs extension oid there, or 0 */
	PGPROC	   *launcher;		/* launcher's PGPROC, NULL if not running */

	uint64		ring_head;		/* ring slots ever reserved */
	uint64		ring_tail;		/* ring slots ever drained */
	pg_atomic_uint64 events_dropped;	/* events lost to a stalled publisher */
	pg_atomic_uint32 maintenance_requested; /* the pool needs the launcher */
	pg_atomic_uint32 limits_active; /* paused queues or concurrency limits
									 * may exist: claims must check them */
	pg_atomic_uint32 limits_changes;	/* bumped by every commit changing
										 * them */
	pg_atomic_uint64 batch_min_id;	/* runs below this id are never run in
									 * a batch: a crash interrupted them */
	pg_atomic_uint64 next_due;	/* (int64) when the launcher promotes next:
								 * ZJ_NEXT_DUE_UNKNOWN or _NONE */

	int			max_backends;	/* length of waiting_for */
	pg_atomic_uint64 *waiting_for;	/* per backend: run id jobs.wait()
									 * waits for, 0 if none */
	pg_atomic_uint32 waiters;	/* backends inside jobs.wait() */

	ZjRingEvent *ring;			/* ZJ_EVENT_RING_SIZE slots */
	int			nslots;			/* zapjobs.max_workers at start */
	ZjWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
} ZjShared;

extern ZjShared *zj_shared;

/* shmem.c */
extern void zj_shmem_install_hooks(void);
extern bool zj_shmem_ready(void);
extern void zj_wake_launcher(void);
extern void zj_request_maintenance(void);
extern bool zj_serves_my_database(void);
extern void zj_wake_idle_workers(void);

/* ---------------------------------------------------------------------
 * GUCs (init.c)
 * ---------------------------------------------------------------------
 */
extern char *zj_database;
extern int	zj_max_workers;
extern int	zj_poll_interval_ms;
extern int	zj_default_timeout_s;
extern int	zj_default_max_attempts;
extern char *zj_channel;
extern int	zj_max_output_bytes;
extern int	zj_worker_idle_timeout_ms;
extern int	zj_batch_time_ms;
extern int	zj_vacuum_threshold;
extern int	zj_retry_base_ms;
extern double zj_retry_factor;
extern int	zj_retry_max_delay_ms;
extern char *zj_non_retryable_sqlstates;
extern int	zj_max_crashes;
extern int	zj_kill_grace_ms;
extern bool zj_preloaded;

/* ---------------------------------------------------------------------
 * A claimed run, as the worker executes it.  Lives in the worker's
 * long-lived context: it must survive the job's own commits.
 * ---------------------------------------------------------------------
 */
typedef struct ZjRun
{
	int64		id;
	char	   *command;
	char	   *search_path;	/* enqueuer's search_path, or NULL */
	Jsonb	   *input;			/* or NULL */
	int32		attempt;		/* the attempt this execution is */
	int64		timeout_ms;
	const char *queue;
	const char *name;			/* or NULL */
	TimestampTz started_at;		/* when execution began (worker's clock) */
	TimestampTz deadline;		/* when its timeout expires */
	ZjProgressValues *progress; /* its progress when it ended, or NULL */
	bool		shell;			/* kind 'shell': /bin/sh -c command */
	bool		locked;			/* locked pending by a batch, not claimed:
								 * its outcome is written straight from
								 * pending (zj_book_finish_locked_many) */
	TimestampTz finished_at;	/* a locked run's end, until it is written */
	Jsonb	   *output;			/* its output, likewise */
} ZjRun;

/* events.c: capture in the committing backend */
extern void zj_events_add(const ZjRunEvent *event);
extern void zj_events_fill(ZjRunEvent *ev, int64 id, const char *status,
						   int32 attempt, int32 max_attempts,
						   const char *name, const char *queue,
						   TimestampTz run_at, TimestampTz started_at,
						   TimestampTz finished_at, const char *sqlstate);
extern int	zj_events_drain(ZjRunEvent *buf, int max);
extern uint64 zj_events_ring_head(void);
extern bool zj_events_ring_passed(uint64 position);

/* publisher.c: NOTIFY from the launcher */
extern void zj_publisher_run(void);
extern void zj_publisher_drain_all(void);
extern uint64 zj_publisher_finished;

/* launcher.c */
extern PGDLLEXPORT void zj_launcher_main(Datum arg);
extern void zj_launcher_register(void);

/* watchdog.c */
extern long zj_watchdog_run(void);

/* pool.c: the launcher's worker pool */
extern void zj_pool_reset(void);
extern void zj_pool_check_exits(bool *need_reap);
extern void zj_pool_balance(Oid *roles, int *pending, int nroles);
extern void zj_pool_retire_all(void);

/* worker.c; the launcher passes ZjWorkerArgs in bgw_extra */
typedef struct ZjWorkerArgs
{
	Oid			database;
	Oid			role;
	Oid			extension;
	uint32		generation;
} ZjWorkerArgs;

extern PGDLLEXPORT void zj_worker_main(Datum arg);
extern MemoryContext zj_worker_run_cxt;
extern Oid	zj_worker_role(void);
extern int	zj_worker_timeout_ms(ZjRun *run);
extern Jsonb *zj_worker_output(void);
extern void zj_worker_begin_run(ZjRun *run);
extern void zj_worker_end_run(ZjRun *run);
extern void zj_worker_job_done(ZjRun *run);
extern void zj_worker_set_deadline(TimestampTz deadline);
extern void zj_worker_unwatch(void);
extern void zj_worker_apply_search_path(ZjRun *run);
extern void zj_worker_reset_session_state(void);
extern ErrorData *zj_worker_catch_error(void);
extern void zj_worker_count(bool completed);
extern ZjRun *zj_current_run;
extern bool zj_locked_run_reported;
extern bool zj_worker_may_report(void);
extern void zj_worker_check_sees_runs(const char *what);
extern Jsonb *zj_explicit_output;
extern bool zj_output_was_set;

/* batch.c */
extern bool zj_batch_possible(ZjRun *run, List **parsetrees);
extern int64 zj_batch_execute(ZjRun *first, List *first_trees);

/* bookkeeping.c: every query zapjobs runs on its own tables */
extern void zj_xact_begin(void);
extern void zj_book_begin(void);
extern void zj_book_end(void);
extern void zj_book_install_planner(void);
typedef enum ZjClaimResult
{
	ZJ_CLAIM_NONE = 0,			/* nothing to claim */
	ZJ_CLAIMED,					/* *run claimed */
	ZJ_CLAIM_AGAIN				/* a limit got in the way: new transaction */
} ZjClaimResult;

extern ZjClaimResult zj_book_claim(Oid role, ZjRun **run, MemoryContext cxt,
								   int64 only_id);
extern void zj_book_complete(ZjRun *run, Jsonb *output);
extern List *zj_book_lock_pending(Oid role, int n, MemoryContext cxt);
extern void zj_book_finish_locked_many(List *runs);
extern int	zj_book_promote_due(TimestampTz *next_due);
extern int	zj_book_demand(Oid *roles, int *pending, int max, int cap);
extern int	zj_book_fail_role(Oid role, const char *sqlstate, const char *message,
							  const char *hint);
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
} ZjNewRun;

extern int64 zj_book_insert(const ZjNewRun *run);
extern ArrayType *zj_book_insert_many(const ZjNewRun *run, ArrayType *inputs);
extern void zj_book_set_shell_pgid(ZjRun *run, pid_t pgid);

/* progress.c: live progress of running jobs */
extern void zj_progress_attach(ZjWorkerSlot *slot);
extern void zj_progress_set(int64 current, int64 total, const char *message);
extern void zj_progress_begin_run(ZjRun *run);
extern void zj_progress_end_run(ZjRun *run);
extern bool zj_progress_read(ZjProgress *p, ZjProgressValues *out);
extern void zj_progress_clear(ZjProgress *p);
extern long zj_progress_publish(void);
extern void zj_progress_event(ZjRunEvent *ev, const ZjProgressValues *v,
							  const char *name);

/* joblog.c: jobs.log and captured notices, through the launcher */
extern void zj_joblog_attach(ZjWorkerSlot *slot);
extern void zj_joblog_begin_run(ZjRun *run);
extern void zj_joblog_end_run(void);
extern void zj_joblog_drain(void);
extern void zj_joblog_line(const char *level, const char *message,
						   const char *context);
extern bool zj_joblog_level_valid(const char *level);
extern int	zj_max_log_lines;
extern int	zj_event_detail;

/* publisher.c: events the launcher makes itself */
extern void zj_publisher_add(const ZjRunEvent *ev);
extern void zj_publisher_append_time(StringInfo buf, const char *key,
									 TimestampTz ts);

/* zapjobs.event_detail */
typedef enum ZjEventDetail
{
	ZJ_DETAIL_MINIMAL,			/* ids, states and numbers only */
	ZJ_DETAIL_FULL				/* also messages jobs report */
} ZjEventDetail;

/* shell.c, shell_output.c: shell jobs */
extern void zj_shell_check_allowed(Oid role, bool at_start);
extern pid_t zj_shell_spawn(ZjRun *run, int *out_fd, int *err_fd);
extern void zj_shell_stop(pid_t pid, bool gently);
extern int	zj_shell_reap(pid_t pid);
extern bool zj_shell_child_exited(pid_t pid);
extern void zj_shell_kill_orphans(pid_t pgid);
extern void zj_shell_supervise(ZjRun *run, pid_t pid, int out_fd, int err_fd);
extern void zj_shell_execute(ZjRun *run);
extern bool zj_shell_enabled;
extern char *zj_shell_directory;
extern int	zj_shell_kill_grace_ms;

/* cron.c: schedules */
typedef struct ZjSchedule
{
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

extern void zj_schedule_parse(const char *text, ZjSchedule *s);
extern bool zj_schedule_check_timezone(char **newval, void **extra,
									   GucSource source);
extern struct pg_tz *zj_schedule_timezone(const char *name);
extern TimestampTz zj_schedule_next(const ZjSchedule *s, TimestampTz after,
									struct pg_tz *tz);
extern char *zj_timezone;

/* schedule.c: the launcher fires due schedules */
extern long zj_schedule_fire_due(void);

/* failure.c: how an attempt that did not complete ends */
typedef enum ZjOutcome
{
	ZJ_OUTCOME_FAILED,			/* the job raised an error */
	ZJ_OUTCOME_TIMED_OUT,		/* it ran past its timeout */
	ZJ_OUTCOME_INTERRUPTED,		/* its worker, or the server, went away */
	ZJ_OUTCOME_CANCELLED		/* jobs.cancel() stopped it */
} ZjOutcome;

typedef struct ZjFailure
{
	ZjOutcome	outcome;
	bool		crashed;		/* a server crash interrupted it */
	const char *sqlstate;
	const char *message;
	const char *detail;
	const char *hint;
	const char *context;
} ZjFailure;

extern void zj_failure_from_error(ZjFailure *f, ZjRun *run, ErrorData *edata);
extern bool zj_failure_is_retryable(const ZjFailure *f);
extern bool zj_failure_check_sqlstates(char **newval, void **extra,
									   GucSource source);
extern bool zj_book_fail(ZjRun *run, const ZjFailure *f);
extern int	zj_book_reap(void);
extern bool zj_book_requeue(int64 id, int32 attempt);

/* limits.c: paused queues and concurrency limits */
extern bool zj_limits_active(void);
extern ZjClaimResult zj_book_claim_limited(Oid role, ZjRun **run,
										   MemoryContext cxt);
extern List *zj_book_lock_pending_unlimited(Oid role, int n, MemoryContext cxt);
extern void zj_limits_refresh(void);

/* sqlexec.c */
extern void zj_sql_execute(const char *sql, MemoryContext job_cxt);
extern List *zj_sql_parse(const char *sql, MemoryContext job_cxt);
extern bool zj_sql_batchable(List *parsetrees);
extern void zj_sql_run(List *parsetrees, const char *sql, MemoryContext job_cxt,
					   bool nested);

/* output.c */
extern DestReceiver *zj_output_receiver(MemoryContext job_cxt);
extern Jsonb *zj_output_keep(Jsonb *value);
extern void zj_output_reset(void);
extern void zj_output_begin_run(MemoryContext run_cxt);
extern Jsonb *zj_output_result(void);
extern Jsonb *zj_output_bound(Jsonb *value);

/* roles.c */
typedef enum ZjRoleProblem
{
	ZJ_ROLE_OK = 0,
	ZJ_ROLE_MISSING,			/* dropped */
	ZJ_ROLE_NOLOGIN,			/* NOLOGIN */
	ZJ_ROLE_NOCONNECT			/* no CONNECT on the jobs database */
} ZjRoleProblem;

extern ZjRoleProblem zj_role_check(Oid role, char **name);

/* wakeup.c */
extern void zj_wakeup_note_enqueue(Oid owner, int64 runs);
#define ZJ_NEXT_DUE_UNKNOWN PG_INT64_MIN	/* being computed */
#define ZJ_NEXT_DUE_NONE PG_INT64_MAX		/* nothing scheduled */
extern void zj_wakeup_note_scheduled(TimestampTz run_at);
extern void zj_wakeup_note_cancel(int64 run_id);
extern void zj_wakeup_note_limits(void);

/* control.c */
extern void zj_control_interrupt(int64 run_id);
extern Tuplestorestate *zj_srf_begin(FunctionCallInfo fcinfo, TupleDesc *desc);

#endif							/* ZAPJOBS_H */
