/*-------------------------------------------------------------------------
 * top_model.h
 *	  What zapjobs top shows, as read from the views: one result per
 *	  section, with the column numbers the view reads them by.
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_TOP_MODEL_H
#define ZJC_TOP_MODEL_H

#include "conn.h"
#include "top_rate.h"

/* Columns of TopModel.runs: running runs. */
enum
{
	TR_ID, TR_NAME, TR_OWNER, TR_QUEUE, TR_PERCENT, TR_CURRENT, TR_TOTAL,
	TR_ETA, TR_ELAPSED, TR_MESSAGE, TR_ATTEMPT
};

/* Columns of TopModel.queues. */
enum
{
	TQ_NAME, TQ_PENDING, TQ_SCHEDULED, TQ_RETRYING, TQ_RUNNING, TQ_PAUSED
};

/* Columns of TopModel.summary (one row). */
enum
{
	TS_FAILURES_HOUR, TS_WORKERS, TS_MAX_WORKERS, TS_BUSY, TS_ROLES_WAITING, TS_NOW
};

/* Columns of TopModel.failures: attempts that failed in the last hour. */
enum
{
	TF_RUN_ID, TF_NAME, TF_ATTEMPT, TF_OUTCOME, TF_AT, TF_ERROR, TF_RUN_STATUS,
	TF_QUEUE
};

/* Columns of TopModel.workers. */
enum
{
	TW_PID, TW_ROLE, TW_STATE, TW_RUN, TW_COMPLETED, TW_FAILED
};

/* Columns of TopModel.detail (one row: the opened run). */
enum
{
	TD_ID, TD_NAME, TD_STATUS, TD_OWNER, TD_QUEUE, TD_ATTEMPT, TD_MAX_ATTEMPTS,
	TD_PERCENT, TD_CURRENT, TD_TOTAL, TD_ETA, TD_MESSAGE, TD_CREATED,
	TD_STARTED, TD_DURATION, TD_SQLSTATE, TD_ERROR, TD_COMMAND
};

/* Columns of TopModel.logs: the opened run's last lines, oldest first. */
enum
{
	TL_AT, TL_LEVEL, TL_MESSAGE
};

typedef struct TopModel
{
	PGresult   *runs;
	PGresult   *queues;
	PGresult   *summary;
	PGresult   *failures;
	PGresult   *workers;
	PGresult   *detail;			/* NULL unless a run is open */
	PGresult   *logs;
	char		filter[128];	/* runs whose name, queue or owner has it */
	long long	detail_id;		/* the open run; 0: none */
	char		error[512];		/* the last refresh's error, "" if none */
	TopRate		rate;			/* throughput, from the workers' counters */
} TopModel;

/* Read everything again; false if the connection is gone. */
extern bool top_model_refresh(Conn *c, TopModel *m);

/*
 * Act on a run or queue: sql takes one parameter and returns one row; its
 * first column is shown in msg, or the error.  False if the connection is gone.
 */
extern bool top_model_act(Conn *c, const char *sql, const char *param,
						  char *msg, size_t len);

extern void top_model_clear(TopModel *m);

#endif
