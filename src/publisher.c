/*-------------------------------------------------------------------------
 *
 * publisher.c
 *	  The launcher's side of events.c: drains the shared ring, puts events
 *	  in commit-ticket order and sends them with NOTIFY, many per
 *	  transaction, then wakes backends waiting in jobs.wait() for a run
 *	  that just finished.
 *
 *	  Payload (always far below the 8000-byte NOTIFY limit):
 *	  {"type":"run","id":42,"name":"nightly","queue":"default",
 *	   "status":"failed","attempt":1,"max_attempts":1,
 *	   "at":"...","run_at":"...","started_at":"...","finished_at":"...",
 *	   "error":{"sqlstate":"22012","message":"division by zero"}}
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

#define ZJ_PUBLISH_BATCH 1000

/* Events drained but not yet publishable; lives in TopMemoryContext. */
static ZjRunEvent *zj_backlog = NULL;
static int	zj_nbacklog = 0;
static int	zj_maxbacklog = 0;

static int
zj_publisher_cmp(const void *a, const void *b)
{
	const ZjRunEvent *x = a;
	const ZjRunEvent *y = b;

	if (x->ticket != y->ticket)
		return x->ticket < y->ticket ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

/* Move everything in the ring into the backlog. */
void
zj_publisher_drain_all(void)
{
	for (;;)
	{
		int			n;

		if (zj_nbacklog + ZJ_EVENT_RING_SIZE > zj_maxbacklog)
		{
			int			newmax = Max(2 * ZJ_EVENT_RING_SIZE, 2 * zj_maxbacklog);

			if (zj_backlog == NULL)
				zj_backlog = MemoryContextAlloc(TopMemoryContext,
												newmax * sizeof(ZjRunEvent));
			else
				zj_backlog = repalloc_huge(zj_backlog,
										   newmax * sizeof(ZjRunEvent));
			zj_maxbacklog = newmax;
		}
		n = zj_events_drain(zj_backlog + zj_nbacklog, ZJ_EVENT_RING_SIZE);
		zj_nbacklog += n;
		if (n == 0)
			break;
	}
}

static void
zj_publisher_add_time(StringInfo buf, const char *key, TimestampTz ts)
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

/* Build the JSON payload of one event into buf. */
static void
zj_publisher_payload(StringInfo buf, const ZjRunEvent *ev)
{
	resetStringInfo(buf);
	appendStringInfo(buf, "{\"type\":\"run\",\"id\":" INT64_FORMAT, ev->run_id);
	zj_publisher_add_text(buf, "name", ev->name);
	zj_publisher_add_text(buf, "queue", ev->queue);
	appendStringInfo(buf, ",\"status\":\"%s\",\"attempt\":%d,\"max_attempts\":%d",
					 zj_status_name(ev->status), ev->attempt, ev->max_attempts);
	zj_publisher_add_time(buf, "at", ev->at);
	zj_publisher_add_time(buf, "run_at", ev->run_at);
	zj_publisher_add_time(buf, "started_at", ev->started_at);
	zj_publisher_add_time(buf, "finished_at", ev->finished_at);
	if (ev->sqlstate[0] != '\0' || ev->error[0] != '\0')
	{
		appendStringInfoString(buf, ",\"error\":{\"sqlstate\":");
		if (ev->sqlstate[0] != '\0')
			escape_json(buf, ev->sqlstate);
		else
			appendStringInfoString(buf, "null");
		appendStringInfoString(buf, ",\"message\":");
		escape_json(buf, ev->error);
		appendStringInfoChar(buf, '}');
	}
	appendStringInfoChar(buf, '}');
}

/* Wake every backend in jobs.wait() for this run. */
static void
zj_publisher_wake_waiters(int64 run_id)
{
	int			i;

	if (pg_atomic_read_u32(&zj_shared->waiters) == 0)
		return;
	for (i = 0; i < zj_shared->max_backends; i++)
	{
		if (pg_atomic_read_u64(&zj_shared->waiting_for[i]) == (uint64) run_id)
			SetLatch(&GetPGProcByNumber(i)->procLatch);
	}
}

static void
zj_publisher_send(int from, int to)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	for (i = from; i < to; i++)
	{
		zj_publisher_payload(&buf, &zj_backlog[i]);
		Async_Notify(zj_channel, buf.data);
	}
	CommitTransactionCommand();
	zj_after_notify_commit();
	pfree(buf.data);

	for (i = from; i < to; i++)
		if (zj_status_is_final(zj_backlog[i].status))
			zj_publisher_wake_waiters(zj_backlog[i].run_id);
}

/* Publish every event whose place in commit order is settled. */
void
zj_publisher_run(void)
{
	uint64		below = zj_events_publishable_below();
	int			ready = 0;
	int			i;

	zj_publisher_drain_all();
	if (zj_nbacklog == 0)
		return;

	qsort(zj_backlog, zj_nbacklog, sizeof(ZjRunEvent), zj_publisher_cmp);
	while (ready < zj_nbacklog && zj_backlog[ready].ticket < below)
		ready++;

	for (i = 0; i < ready; i += ZJ_PUBLISH_BATCH)
		zj_publisher_send(i, Min(ready, i + ZJ_PUBLISH_BATCH));

	if (ready > 0)
	{
		memmove(zj_backlog, zj_backlog + ready,
				(zj_nbacklog - ready) * sizeof(ZjRunEvent));
		zj_nbacklog -= ready;
	}
}
