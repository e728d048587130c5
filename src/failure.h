/*-------------------------------------------------------------------------
 *
 * failure.h
 *	  How an attempt that did not complete ends (failure.c): what stopped
 *	  it, and what becomes of its run.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_FAILURE_H
#define ZAPJOBS_FAILURE_H

#include "run.h"

#include "utils/elog.h"
#include "utils/guc.h"

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

/* The run's row, as the end of an attempt reads it under lock. */
typedef struct ZjFailRow
{
	int64		id;
	ZjRunStatus status;
	int32		attempt;
	bool		cancel_requested;
	int32		max_attempts;
	int32		crashes;
	double		retry_base_s;
	double		retry_factor;
	double		retry_max_delay_s;
} ZjFailRow;

/* What becomes of the run. */
typedef struct ZjFailDecision
{
	ZjFailure	f;				/* the failure as recorded */
	ZjRunStatus status;			/* awaiting_retry, failed or cancelled */
	TimestampTz next_retry;		/* when awaiting_retry: its due time */
	int32		crashes;		/* crashes that interrupted it, this one
								 * included */
} ZjFailDecision;

extern bool zj_failure_check_sqlstates(char **newval, void **extra,
									   GucSource source);
extern void zj_failure_from_error(ZjFailure *f, ZjRun *run, ErrorData *edata);
extern void zj_failure_timed_out(ZjFailure *f, int64 run_id, int64 timeout_ms,
								 const char *detail);
extern bool zj_failure_is_retryable(const ZjFailure *f);
extern void zj_failure_decide(const ZjFailRow *row, int32 attempt,
							  const ZjFailure *f, ZjFailDecision *d);
extern const char *zj_failure_outcome_name(ZjOutcome outcome);

#endif							/* ZAPJOBS_FAILURE_H */
