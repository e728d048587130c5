/*-------------------------------------------------------------------------
 *
 * publisher.c
 *	  The launcher's side of events.c: drains the shared ring in order and
 *	  sends the events with NOTIFY, many per transaction, then wakes
 *	  backends waiting in jobs.wait() for a run that just finished.
 *
 *	  Payloads (always far below the 8000-byte NOTIFY limit):
 *	  {"type":"run","id":42,"name":"nightly","queue":"default",
 *	   "status":"failed","attempt":1,"max_attempts":1,"at":"...",
 *	   "run_at":"...","started_at":"...","finished_at":"...",
 *	   "sqlstate":"22012"}
 *	  and, for a transaction that changed more than ZJ_EVENT_BULK_MAX runs,
 *	  one summary per status:
 *	  {"type":"runs","status":"pending","count":100000,"first_id":1,
 *	   "last_id":100000,"name":null,"queue":"default","at":"..."}
 *	  Progress and worker events (progress.c, pool.c) and log events
 *	  (joblog.c) share the channel; see the README for every field.
 *	  Payloads carry no command, input, output or error text: any role may
 *	  LISTEN, and row-level security does not apply to notifications.
 *	  Messages that jobs choose to report (progress, log) are included
 *	  unless zapjobs.event_detail is 'minimal'.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "zapjobs.h"

#define ZJ_PUBLISH_BATCH	1000
#define ZJ_BACKLOG_MAX		(1024 * 1024)	/* events kept while NOTIFY fails */

/* Runs published as finished, ever: the launcher vacuums by it. */
uint64		zj_publisher_finished = 0;

/* Events drained but not yet sent, in ring order; in TopMemoryContext. */
static ZjRunEvent *zj_backlog = NULL;
static int	zj_nbacklog = 0;
static int	zj_maxbacklog = 0;

static void
zj_publisher_grow(void)
{
	int			newmax = Max(2 * ZJ_EVENT_RING_SIZE, 2 * zj_maxbacklog);

	if (zj_backlog == NULL)
		zj_backlog = MemoryContextAlloc(TopMemoryContext,
										newmax * sizeof(ZjRunEvent));
	else
		zj_backlog = repalloc_huge(zj_backlog, newmax * sizeof(ZjRunEvent));
	zj_maxbacklog = newmax;
}

/* Drop the oldest events when NOTIFY has failed for too long. */
static void
zj_publisher_trim(void)
{
	int			excess = zj_nbacklog - ZJ_BACKLOG_MAX;

	if (excess <= 0)
		return;
	memmove(zj_backlog, zj_backlog + excess,
			(zj_nbacklog - excess) * sizeof(ZjRunEvent));
	zj_nbacklog -= excess;
	pg_atomic_fetch_add_u64(&zj_shared->events_dropped, excess);
	ereport(LOG,
			(errmsg("zapjobs dropped %d unpublished run events", excess)));
}

/* Move everything the ring can give into the backlog. */
void
zj_publisher_drain_all(void)
{
	for (;;)
	{
		int			n;

		if (zj_nbacklog + ZJ_EVENT_RING_SIZE > zj_maxbacklog)
			zj_publisher_grow();
		n = zj_events_drain(zj_backlog + zj_nbacklog, ZJ_EVENT_RING_SIZE);
		zj_nbacklog += n;
		if (n == 0)
			break;
	}
}

void
zj_publisher_append_time(StringInfo buf, const char *key, TimestampTz ts)
{
	appendStringInfo(buf, ",\"%s\":", key);
	if (ts == 0)
		appendStringInfoString(buf, "null");
	else
	{
		char		tbuf[MAXDATELEN + 1];

		JsonEncodeDateTime(tbuf, TimestampTzGetDatum(ts), TIMESTAMPTZOID, NULL);
		appendStringInfo(buf, "\"%s\"", tbuf);
	}
}

static void
zj_publisher_add_text(StringInfo buf, const char *key, const char *value)
{
	appendStringInfo(buf, ",\"%s\":", key);
	if (value[0] == '\0')
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, value);
}

static void zj_publisher_progress_payload(StringInfo buf, const ZjRunEvent *ev);
static void zj_publisher_worker_payload(StringInfo buf, const ZjRunEvent *ev);

/* Build the JSON payload of one event into buf. */
static void
zj_publisher_payload(StringInfo buf, const ZjRunEvent *ev)
{
	if (ev->kind == ZJ_EV_PROGRESS)
	{
		zj_publisher_progress_payload(buf, ev);
		return;
	}
	if (ev->kind == ZJ_EV_WORKER)
	{
		zj_publisher_worker_payload(buf, ev);
		return;
	}
	resetStringInfo(buf);
	if (ev->count > 1)
	{
		appendStringInfo(buf, "{\"type\":\"runs\",\"status\":\"%s\",\"count\":%d,"
						 "\"first_id\":" INT64_FORMAT ",\"last_id\":" INT64_FORMAT,
						 zj_status_name(ev->status), ev->count,
						 ev->run_id, ev->last_id);
		zj_publisher_add_text(buf, "name", ev->name);
		zj_publisher_add_text(buf, "queue", ev->queue);
		zj_publisher_append_time(buf, "at", ev->at);
		appendStringInfoChar(buf, '}');
		return;
	}
	appendStringInfo(buf, "{\"type\":\"run\",\"id\":" INT64_FORMAT, ev->run_id);
	zj_publisher_add_text(buf, "name", ev->name);
	zj_publisher_add_text(buf, "queue", ev->queue);
	appendStringInfo(buf, ",\"status\":\"%s\",\"attempt\":%d,\"max_attempts\":%d",
					 zj_status_name(ev->status), ev->attempt, ev->max_attempts);
	zj_publisher_append_time(buf, "at", ev->at);
	zj_publisher_append_time(buf, "run_at", ev->run_at);
	zj_publisher_append_time(buf, "started_at", ev->started_at);
	zj_publisher_append_time(buf, "finished_at", ev->finished_at);
	if (ev->sqlstate[0] != '\0' && zj_event_detail == ZJ_DETAIL_FULL)
		zj_publisher_add_text(buf, "sqlstate", ev->sqlstate);
	appendStringInfoChar(buf, '}');
}

static void
zj_publisher_add_count(StringInfo buf, const char *key, int64 value)
{
	if (value < 0)
		appendStringInfo(buf, ",\"%s\":null", key);
	else
		appendStringInfo(buf, ",\"%s\":" INT64_FORMAT, key, value);
}

/* {"type":"progress","id":..,"current":..,"total":..,"percent":..,...} */
static void
zj_publisher_progress_payload(StringInfo buf, const ZjRunEvent *ev)
{
	resetStringInfo(buf);
	appendStringInfo(buf, "{\"type\":\"progress\",\"id\":" INT64_FORMAT, ev->run_id);
	zj_publisher_add_text(buf, "name", ev->name);
	zj_publisher_add_count(buf, "current", ev->current);
	zj_publisher_add_count(buf, "total", ev->total);
	if (ev->total > 0 && ev->current >= 0)
		appendStringInfo(buf, ",\"percent\":%.1f",
						 Min(100.0, 100.0 * ev->current / ev->total));
	else
		appendStringInfoString(buf, ",\"percent\":null");
	zj_publisher_add_count(buf, "processed", ev->processed);
	zj_publisher_add_count(buf, "succeeded", ev->succeeded);
	zj_publisher_add_count(buf, "failed", ev->failed);
	if (zj_event_detail == ZJ_DETAIL_FULL)
		zj_publisher_add_text(buf, "message", ev->message);
	zj_publisher_append_time(buf, "at", ev->at);
	appendStringInfoChar(buf, '}');
}

/* {"type":"worker","pid":..,"role":"..","state":"started"|"exited"} */
static void
zj_publisher_worker_payload(StringInfo buf, const ZjRunEvent *ev)
{
	resetStringInfo(buf);
	appendStringInfo(buf, "{\"type\":\"worker\",\"pid\":%d,\"state\":\"%s\"",
					 ev->pid, ev->started ? "started" : "exited");
	zj_publisher_add_text(buf, "role", ev->name);
	zj_publisher_append_time(buf, "at", ev->at);
	appendStringInfoChar(buf, '}');
}

/* An event the launcher made itself, published after the ring's. */
void
zj_publisher_add(const ZjRunEvent *ev)
{
	if (zj_nbacklog + 1 > zj_maxbacklog)
		zj_publisher_grow();
	zj_backlog[zj_nbacklog++] = *ev;
}

/* Wake every backend in jobs.wait() for a run this event finished. */
static void
zj_publisher_wake_waiters(const ZjRunEvent *ev)
{
	int			i;

	if (ev->kind != ZJ_EV_RUN || !zj_status_is_final(ev->status) ||
		pg_atomic_read_u32(&zj_shared->waiters) == 0)
		return;
	for (i = 0; i < zj_shared->max_backends; i++)
	{
		int64		waited = (int64) pg_atomic_read_u64(&zj_shared->waiting_for[i]);

		if (waited >= ev->run_id && waited <= ev->last_id)
			SetLatch(&GetPGProcByNumber(i)->procLatch);
	}
}

/* Send backlog[from, to) in one transaction. */
static void
zj_publisher_send(int from, int to)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	SetCurrentStatementStartTimestamp();
	zj_xact_begin();
	for (i = from; i < to; i++)
	{
		zj_publisher_payload(&buf, &zj_backlog[i]);
		Async_Notify(zj_channel, buf.data);
	}
	CommitTransactionCommand();
	zj_after_notify_commit();
	pfree(buf.data);

	for (i = from; i < to; i++)
	{
		zj_publisher_wake_waiters(&zj_backlog[i]);
		if (zj_backlog[i].kind == ZJ_EV_RUN && zj_status_is_final(zj_backlog[i].status))
			zj_publisher_finished += zj_backlog[i].count;
	}
}

/*
 * Publish what the ring holds.  A failing batch (a full NOTIFY queue, say)
 * is logged and kept for the next call; batches sent are never re-sent.
 */
void
zj_publisher_run(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			sent = 0;

	zj_publisher_drain_all();
	PG_TRY();
	{
		while (sent < zj_nbacklog)
		{
			int			to = Min(zj_nbacklog, sent + ZJ_PUBLISH_BATCH);

			zj_publisher_send(sent, to);
			sent = to;
		}
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortOutOfAnyTransaction();
	}
	PG_END_TRY();

	if (sent > 0)
	{
		memmove(zj_backlog, zj_backlog + sent,
				(zj_nbacklog - sent) * sizeof(ZjRunEvent));
		zj_nbacklog -= sent;
	}
	zj_publisher_trim();
}
