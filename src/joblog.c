/*-------------------------------------------------------------------------
 *
 * joblog.c
 *	  A run's log: jobs.log() lines and the notices its job raises (RAISE
 *	  NOTICE, INFO, WARNING, and the server's own).  A log line must
 *	  survive the job's rollback, so the job's transaction cannot write it:
 *	  the worker puts it in a ring in its shared-memory slot, and the
 *	  launcher moves it to jobs.logs in a transaction of its own and
 *	  publishes it as a log event.  Before an attempt's outcome is recorded
 *	  the worker waits until its lines are in jobs.logs, so a finished
 *	  run's log is complete.
 *
 *	  The ring has one writer (the worker) and one reader (the launcher):
 *	  the worker fills a line, then advances log_head; the launcher copies
 *	  lines, stores them, then advances log_tail.  A run keeps at most
 *	  zapjobs.max_log_lines lines; further ones are counted and reported in
 *	  a last line.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "joblog.h"
#include "publisher.h"
#include "query.h"
#include "runctx.h"
#include "wakeup.h"

#define ZJ_LOG_WAIT_MS	2000	/* longest wait for the launcher */

PG_FUNCTION_INFO_V1(zj_log);

static ZjWorkerSlot *zj_log_slot = NULL;	/* the worker's own slot */
static emit_log_hook_type zj_prev_emit_log_hook = NULL;
static int	zj_server_log_level = WARNING;	/* log_min_messages before ours */
static bool zj_in_hook = false;

/* The current run's log: where lines go, how many it kept and dropped. */
static int64 zj_log_run_id = 0;
static int32 zj_log_attempt = 0;
static char zj_log_name[ZJ_NAME_MAX];
static int	zj_log_lines = 0;
static int	zj_log_dropped = 0;
static bool zj_log_stalled = false;	/* the launcher did not take lines in
										 * time: drop instead of waiting */

static const char *const zj_log_levels[] = {"debug", "info", "notice", "warning", "error"};

/*
 * Wait (at most ZJ_LOG_WAIT_MS) until the launcher has taken lines up to
 * upto, for room or for a flush.  Sleeps without CHECK_FOR_INTERRUPTS:
 * this also runs inside error reporting.
 */
static bool
zj_joblog_wait_taken(uint32 upto)
{
	int			waited = 0;

	while ((int32) (upto - pg_atomic_read_u32(&zj_log_slot->log_tail)) > 0)
	{
		if (waited >= ZJ_LOG_WAIT_MS)
			return false;
		zj_wakeup_launcher();
		pg_usleep(1000L);
		waited++;
	}
	return true;
}

/* Put a line in the ring; false if it had to be dropped. */
static bool
zj_joblog_put(const char *level, const char *message, const char *context)
{
	uint32		head = pg_atomic_read_u32(&zj_log_slot->log_head);
	ZjLogLine  *line;
	int			len;
	int			room;

	if (head - pg_atomic_read_u32(&zj_log_slot->log_tail) >= ZJ_LOG_RING_SIZE)
	{
		/* Wait for room once at most per run: a stuck launcher costs 2 s. */
		if (zj_log_stalled || !zj_joblog_wait_taken(head - ZJ_LOG_RING_SIZE + 1))
		{
			zj_log_stalled = true;
			return false;
		}
	}
	line = &zj_log_slot->log[head % ZJ_LOG_RING_SIZE];
	line->run_id = zj_log_run_id;
	line->attempt = zj_log_attempt;
	strlcpy(line->name, zj_log_name, sizeof(line->name));
	line->at = GetCurrentTimestamp();
	strlcpy(line->level, level, sizeof(line->level));

	/* Message, then context if it fits whole; text cut on a character, marked. */
	len = strlen(message);
	room = ZJ_LOG_TEXT_MAX - 2;
	if (len > room)
	{
		len = pg_mbcliplen(message, len, room - strlen(ZJ_TRUNCATED));
		memcpy(line->text, message, len);
		strcpy(line->text + len, ZJ_TRUNCATED);
		len += strlen(ZJ_TRUNCATED);
	}
	else
		memcpy(line->text, message, len);
	line->text[len] = '\0';
	line->has_context = context != NULL &&
		len + 1 + strlen(context) + 1 <= ZJ_LOG_TEXT_MAX;
	if (line->has_context)
		strcpy(line->text + len + 1, context);

	pg_write_barrier();
	pg_atomic_write_u32(&zj_log_slot->log_head, head + 1);
	zj_wakeup_launcher();
	return true;
}

/* Log a line of the current run, within zapjobs.max_log_lines. */
void
zj_joblog_line(const char *level, const char *message, const char *context)
{
	if (!zj_runctx_may_report())
		return;
	if (zj_log_lines >= zj_max_log_lines || !zj_joblog_put(level, message, context))
	{
		zj_log_dropped++;
		return;
	}
	zj_log_lines++;
}

/* Would the server log a message of elevel?  (elog.c's is_log_level_output) */
static bool
zj_joblog_level_output(int elevel, int log_min_level)
{
	if (elevel == LOG || elevel == LOG_SERVER_ONLY)
		return log_min_level == LOG || log_min_level <= ERROR;
	if (elevel == WARNING_CLIENT_ONLY)
		return false;
	if (log_min_level == LOG)
		return elevel >= FATAL;
	return elevel >= log_min_level;
}

/* Notices of a job join its log; those the server would not log stay out of it. */
static void
zj_joblog_emit_hook(ErrorData *edata)
{
	const char *level = edata->elevel == INFO ? "info" :
		edata->elevel == NOTICE ? "notice" :
		edata->elevel == WARNING ? "warning" : NULL;

	if (zj_log_run_id != 0 && level != NULL && !zj_in_hook && edata->message != NULL)
	{
		zj_in_hook = true;
		zj_joblog_line(level, edata->message, NULL);
		zj_in_hook = false;
	}
	/* We lowered log_min_messages to see these; the server log should not. */
	if (level != NULL && !zj_joblog_level_output(edata->elevel, zj_server_log_level))
		edata->output_to_server = false;
	if (zj_prev_emit_log_hook)
		zj_prev_emit_log_hook(edata);
}

/*
 * Worker start: notices reach emit_log_hook only if the server would log
 * them, so let INFO and NOTICE through (the hook keeps them out of the
 * server log again).
 */
void
zj_joblog_attach(ZjWorkerSlot *slot)
{
	zj_log_slot = slot;
	zj_server_log_level = log_min_messages;
	if (!zj_joblog_level_output(INFO, log_min_messages) ||
		!zj_joblog_level_output(NOTICE, log_min_messages) ||
		!zj_joblog_level_output(WARNING, log_min_messages))
		SetConfigOption("log_min_messages", "info", PGC_SUSET, PGC_S_OVERRIDE);
	zj_prev_emit_log_hook = emit_log_hook;
	emit_log_hook = zj_joblog_emit_hook;
}

void
zj_joblog_begin_run(ZjRun *run)
{
	zj_log_run_id = run->id;
	zj_log_attempt = run->attempt;
	strlcpy(zj_log_name, run->name ? run->name : "", sizeof(zj_log_name));
	zj_log_lines = 0;
	zj_log_dropped = 0;
	zj_log_stalled = false;
}

/* The run's attempt was abandoned (attempt.c): its lines go nowhere now. */
void
zj_joblog_forget_run(void)
{
	zj_log_run_id = 0;
}

/* The run's lines, and a note of those dropped, are in jobs.logs. */
void
zj_joblog_end_run(void)
{
	if (zj_log_dropped > 0)
	{
		char		note[128];

		snprintf(note, sizeof(note),
				 "%d log lines dropped (zapjobs.max_log_lines is %d)",
				 zj_log_dropped, zj_max_log_lines);
		(void) zj_joblog_put("warning", note, NULL);
		zj_log_dropped = 0;
	}
	zj_log_run_id = 0;
	if (zj_log_slot != NULL && !zj_log_stalled &&
		!zj_joblog_wait_taken(pg_atomic_read_u32(&zj_log_slot->log_head)))
		elog(LOG, "zapjobs could not flush the log of a run: the launcher does not take it");
}

/* Is level one of jobs.log's (lower case)? */
bool
zj_joblog_level_valid(const char *level)
{
	int			i;

	for (i = 0; i < lengthof(zj_log_levels); i++)
		if (strcmp(level, zj_log_levels[i]) == 0)
			return true;
	return false;
}

/* jobs.log(level, message, context DEFAULT NULL) */
Datum
zj_log(PG_FUNCTION_ARGS)
{
	char	   *level;
	char	   *context = NULL;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("level and message must not be NULL")));
	level = asc_tolower(VARDATA_ANY(PG_GETARG_TEXT_PP(0)),
						VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)));
	if (!zj_joblog_level_valid(level))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown log level \"%s\"", level),
				 errhint("The levels are debug, info, notice, warning and error.")));
	if (zj_log_run_id == 0)
	{
		ereport(NOTICE,
				(errmsg("jobs.log() does nothing outside a running job")));
		PG_RETURN_VOID();
	}
	if (!PG_ARGISNULL(2))
		context = JsonbToCString(NULL, &PG_GETARG_JSONB_P(2)->root,
								 VARSIZE(PG_GETARG_JSONB_P(2)));
	zj_joblog_line(level, text_to_cstring(PG_GETARG_TEXT_PP(1)), context);
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * Launcher side
 * ---------------------------------------------------------------------
 */

/* The JSON payload of a log line's event. */
static void
zj_joblog_payload(StringInfo buf, const ZjLogLine *line, int64 log_id)
{
	const char *message = line->text;
	int			len = strlen(message);
	int			cut = len;

	resetStringInfo(buf);
	appendStringInfo(buf, "{\"type\":\"log\",\"id\":" INT64_FORMAT ",\"name\":",
					 line->run_id);
	if (line->name[0] == '\0')
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, line->name);
	appendStringInfo(buf, ",\"attempt\":%d,\"log_id\":" INT64_FORMAT ",\"level\":\"%s\"",
					 line->attempt, log_id, line->level);
	zj_publisher_append_time(buf, "at", line->at);
	if (zj_event_detail == ZJ_DETAIL_FULL)
	{
		/* Escaping may grow text six-fold: stay far below 8000 bytes. */
		if (len > 1000)
			cut = pg_mbcliplen(message, len, 1000);
		appendStringInfoString(buf, ",\"message\":");
		escape_json(buf, pnstrdup(message, cut));
		if (cut < len)
			appendStringInfoString(buf, ",\"truncated\":true");
	}
	appendStringInfoChar(buf, '}');
}

/*
 * Store lines in jobs.logs, in the current transaction; ids[i] gets the
 * id of line i, or 0 if its run is gone.
 */
static void
zj_joblog_store(ZjLogLine *lines, int n, int64 *ids)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[6] = {INT8OID, INT4OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID};
	int			i;

	zj_query_begin();
	for (i = 0; i < n; i++)
	{
		Datum		values[6];
		char		nulls[6] = {' ', ' ', ' ', ' ', ' ', 'n'};
		const char *message = lines[i].text;

		values[0] = Int64GetDatum(lines[i].run_id);
		values[1] = Int32GetDatum(lines[i].attempt);
		values[2] = TimestampTzGetDatum(lines[i].at);
		values[3] = CStringGetTextDatum(lines[i].level);
		values[4] = CStringGetTextDatum(message);
		if (lines[i].has_context)
		{
			values[5] = CStringGetTextDatum(message + strlen(message) + 1);
			nulls[5] = ' ';
		}
		ids[i] = 0;
		if (zj_query_exec(&plan,
						 "INSERT INTO jobs.logs (run_id, attempt, at, level, message, context)"
						 " SELECT $1, $2, $3, $4, $5, $6::jsonb"
						 " WHERE EXISTS (SELECT FROM jobs.runs r WHERE r.id = $1)"
						 " RETURNING id",
						 6, types, values, nulls) == 1)
		{
			bool		isnull;

			ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1, &isnull));
		}
	}
	zj_query_end();
}

/*
 * Publish stored lines.  The log id makes every payload distinct (NOTIFY
 * folds identical ones within a transaction).
 */
static void
zj_joblog_publish(ZjLogLine *lines, int n, int64 *ids)
{
	StringInfoData buf;
	char	  **payloads = palloc0(n * sizeof(char *));
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < n; i++)
	{
		if (ids[i] == 0)
			continue;
		zj_joblog_payload(&buf, &lines[i], ids[i]);
		payloads[i] = pstrdup(buf.data);
	}
	zj_publisher_notify(payloads, n);
	/* The commit left us in TopMemoryContext: give it all back. */
	for (i = 0; i < n; i++)
		if (payloads[i] != NULL)
			pfree(payloads[i]);
	pfree(payloads);
	pfree(buf.data);
}

/* Take the lines a slot's ring holds; returns how many, into *lines. */
static int
zj_joblog_take(ZjWorkerSlot *slot, ZjLogLine **lines, uint32 *upto)
{
	uint32		tail = pg_atomic_read_u32(&slot->log_tail);
	uint32		head = pg_atomic_read_u32(&slot->log_head);
	int			n = (int) (head - tail);
	int			i;

	*upto = head;
	if (n <= 0)
		return 0;
	pg_read_barrier();
	*lines = palloc(sizeof(ZjLogLine) * n);
	for (i = 0; i < n; i++)
		memcpy(&(*lines)[i], &slot->log[(tail + i) % ZJ_LOG_RING_SIZE],
			   sizeof(ZjLogLine));
	return n;
}

/*
 * Store a slot's lines in jobs.logs, let its worker go on, publish them.
 * Lines that cannot be stored (an error) are dropped, logged, so that one
 * bad line cannot stop a worker's log for good.
 */
static void
zj_joblog_move(ZjWorkerSlot *slot, ZjLogLine *lines, int n, uint32 upto)
{
	MemoryContext cxt = CurrentMemoryContext;
	int64	   *ids = palloc0(sizeof(int64) * n);
	volatile bool stored = false;

	PG_TRY();
	{
		zj_query_xact_begin();
		zj_joblog_store(lines, n, ids);
		CommitTransactionCommand();
		stored = true;
		/* Stored: the worker may go on (its outcome is published later). */
		pg_memory_barrier();
		pg_atomic_write_u32(&slot->log_tail, upto);
		zj_joblog_publish(lines, n, ids);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		elog(LOG, stored ? "zapjobs could not publish %d stored log line(s)" :
			 "zapjobs dropped %d log line(s) it could not store", n);
	}
	PG_END_TRY();
	pg_memory_barrier();
	pg_atomic_write_u32(&slot->log_tail, upto);
	pfree(ids);
}

/*
 * Launcher: move every worker's buffered lines to jobs.logs and publish
 * them, each after its run's "running" event: the lines were written
 * after that event had its slot in the ring.  If a committing transaction
 * still holds a slot before it, the lines wait for the next round.
 */
void
zj_joblog_drain(void)
{
	int			i;

	for (i = 0; i < zj_shared->nslots; i++)
	{
		ZjWorkerSlot *slot = &zj_shared->slots[i];
		ZjLogLine  *lines = NULL;
		uint32		upto = 0;
		int			n = slot->database == MyDatabaseId ?
			zj_joblog_take(slot, &lines, &upto) : 0;

		if (n == 0)
			continue;
		if (zj_publisher_caught_up(true))
			zj_joblog_move(slot, lines, n, upto);
		pfree(lines);
	}
}
