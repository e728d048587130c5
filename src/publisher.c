/*-------------------------------------------------------------------------
 *
 * publisher.c
 *	  The launcher's side of events.c: takes the shared ring in order and
 *	  sends the events with NOTIFY, many per transaction, then wakes
 *	  backends waiting in jobs.wait() for a run that just finished.  It
 *	  owns the two rules every publisher in the launcher follows: payloads
 *	  go out in a transaction of their own (zj_publisher_notify), and
 *	  nothing a run reports goes out before the run's own events ahead of
 *	  it in the ring (zj_publisher_caught_up).  Under load the launcher
 *	  paces its cycles (zj_publisher_pace) so that each publishing
 *	  transaction carries many events.
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
#include "pgstat.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "events.h"
#include "publisher.h"
#include "query.h"
#include "runstate.h"
#include "shmem.h"

#define ZJ_PUBLISH_BATCH	1000

/*
 * Pacing of publishing transactions that follow each other closely: after
 * a burst of 8, a pause of up to 1 ms between launcher cycles while they
 * come faster than one a millisecond.  Each costs a transaction with an
 * xid and a commit record, and under load nearly every enqueue's commit
 * got one of its own (5,500 a second beside 12,000 enqueues, 8 clients;
 * paced, 1,100); each now carries what came in the meantime.  Events
 * spaced further apart go out at once.
 */
#define ZJ_PUBLISH_RATE		1000	/* per second, once the burst is spent */
#define ZJ_PUBLISH_BURST	8

/* Runs published as finished, ever: the launcher vacuums by it. */
uint64		zj_publisher_finished = 0;

/* Publishing transactions since zj_publisher_pace looked, and what it allows. */
static int	zj_publisher_unpaced = 0;
static double zj_publisher_tokens = ZJ_PUBLISH_BURST;
static TimestampTz zj_publisher_refilled = 0;

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
						 zj_runstate_name(ev->status), ev->count,
						 ev->run_id, ev->last_id);
		zj_publisher_add_text(buf, "name", ev->name);
		zj_publisher_add_text(buf, "queue", ev->queue);
		if (ev->workflow[0] != '\0')
			zj_publisher_add_text(buf, "workflow", ev->workflow);
		zj_publisher_append_time(buf, "at", ev->at);
		appendStringInfoChar(buf, '}');
		return;
	}
	appendStringInfo(buf, "{\"type\":\"run\",\"id\":" INT64_FORMAT, ev->run_id);
	zj_publisher_add_text(buf, "name", ev->name);
	zj_publisher_add_text(buf, "queue", ev->queue);
	if (ev->workflow[0] != '\0')
		zj_publisher_add_text(buf, "workflow", ev->workflow);
	appendStringInfo(buf, ",\"status\":\"%s\",\"attempt\":%d,\"max_attempts\":%d",
					 zj_runstate_name(ev->status), ev->attempt, ev->max_attempts);
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

/* Wake every backend in jobs.wait() for a run this event finished. */
static void
zj_publisher_wake_waiters(const ZjRunEvent *ev)
{
	int			i;

	if (ev->kind != ZJ_EV_RUN || !zj_runstate_is_final(ev->status) ||
		pg_atomic_read_u32(&zj_shared->waiters) == 0)
		return;
	for (i = 0; i < zj_shared->max_backends; i++)
	{
		int64		waited = (int64) pg_atomic_read_u64(&zj_shared->waiting_for[i]);

		if (waited >= ev->run_id && waited <= ev->last_id &&
			GetPGProcByNumber(i)->databaseId == MyDatabaseId)
			SetLatch(&GetPGProcByNumber(i)->procLatch);
	}
}

/*
 * Send payloads with NOTIFY in a transaction of their own: a failing NOTIFY
 * (a full queue) costs only them, never the caller's work.  Writing no WAL
 * before its commit record, it commits without waiting for a flush.
 */
void
zj_publisher_notify(char **payloads, int n)
{
	int			i;

	SetCurrentStatementStartTimestamp();
	zj_query_xact_begin();
	for (i = 0; i < n; i++)
		if (payloads[i] != NULL)
			Async_Notify(zj_channel, payloads[i]);
	CommitTransactionCommand();
	zj_after_notify_commit();
}

/* Send events[0, n) in one transaction, then wake who waits for them. */
static void
zj_publisher_send(ZjRunEvent *events, int n)
{
	char	  **payloads = palloc(n * sizeof(char *));
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < n; i++)
	{
		zj_publisher_payload(&buf, &events[i]);
		payloads[i] = pstrdup(buf.data);
	}
	zj_publisher_notify(payloads, n);
	zj_publisher_unpaced++;
	for (i = 0; i < n; i++)
		pfree(payloads[i]);
	pfree(payloads);
	pfree(buf.data);

	for (i = 0; i < n; i++)
	{
		zj_publisher_wake_waiters(&events[i]);
		if (events[i].kind == ZJ_EV_RUN && zj_runstate_is_final(events[i].status))
			zj_publisher_finished += events[i].count;
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
	ZjRunEvent *backlog;
	int			n;
	volatile int sent = 0;		/* read after an error: batches sent stay sent */

	zj_events_drain_all();
	backlog = zj_events_backlog(&n);
	PG_TRY();
	{
		while (sent < n)
		{
			int			to = Min(n, sent + ZJ_PUBLISH_BATCH);

			zj_publisher_send(backlog + sent, to - sent);
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
	zj_events_consumed(sent);
}

/*
 * Has every event reserved in the ring until now been taken (and, with
 * send, published)?  Whatever a run reports (progress, log lines) was
 * written after its "running" event had its ring slot: it may go out once
 * this is true.  False while a committing transaction still holds a slot
 * before that point: try again later.
 */
bool
zj_publisher_caught_up(bool send)
{
	uint64		ring_head = zj_events_ring_head();

	if (send)
		zj_publisher_run();
	else
		zj_events_drain_all();
	return zj_events_ring_passed(ring_head);
}

/*
 * Called by the launcher between cycles: when publishing transactions
 * came faster than ZJ_PUBLISH_RATE after a burst, pause (1 ms at most)
 * before the next cycle, so the events coming meanwhile share it.  Not
 * while the ring fills: committers would soon wait for room.  pg_usleep,
 * not WaitLatch: every commit sets our latch, and WaitLatch counts in ms.
 */
void
zj_publisher_pace(void)
{
	TimestampTz now;

	if (zj_publisher_unpaced == 0)
		return;
	now = GetCurrentTimestamp();
	/* TimestampTz counts microseconds; a clock going back refills nothing. */
	zj_publisher_tokens += Max(now - zj_publisher_refilled, 0) *
		(ZJ_PUBLISH_RATE / 1e6);
	zj_publisher_tokens = Min(zj_publisher_tokens, (double) ZJ_PUBLISH_BURST) -
		zj_publisher_unpaced;
	zj_publisher_refilled = now;
	zj_publisher_unpaced = 0;
	if (zj_publisher_tokens >= 0 || zj_events_ring_filling())
		return;
	zj_publisher_tokens = Max(zj_publisher_tokens, -1.0);
	pgstat_report_wait_start(PG_WAIT_EXTENSION);
	pg_usleep((long) (-zj_publisher_tokens * 1e6 / ZJ_PUBLISH_RATE));
	pgstat_report_wait_end();
}
