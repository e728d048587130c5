/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  Live progress of running jobs.  jobs.progress() and jobs.count_items()
 *	  write the worker's slot in shared memory: no lock, no transaction, no
 *	  WAL, so a job may call them per row.  Others read it at once (the
 *	  jobs.active view, through jobs.live_progress()), whatever becomes of
 *	  the job's transaction.  The launcher publishes changes as progress
 *	  events, at most one per run every ZJ_PROGRESS_EVERY_MS, and writes
 *	  them into the run's row every second (so jobs.runs shows them too);
 *	  when the attempt ends, its last values are stored with its outcome
 *	  in jobs.runs and published just before its final state.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "events.h"
#include "progress.h"
#include "publisher.h"
#include "query.h"
#include "runctx.h"
#include "srf.h"
#include "wakeup.h"

#define ZJ_PROGRESS_EVERY_MS 100

#define ZJ_PROGRESS_STORE_MS 1000
#define ZJ_STORE_NCOLS 8

/* Row k of the arrays zj_progress_store_rows writes, from v. */
static void
zj_progress_store_row(const ZjProgressValues *v, Datum **cols, bool **nulls, int k)
{
	cols[0][k] = Int64GetDatum(v->run_id);
	cols[1][k] = Int64GetDatum(v->current);
	nulls[1][k] = v->current < 0;
	cols[2][k] = Int64GetDatum(v->total);
	nulls[2][k] = v->total < 0;
	cols[3][k] = CStringGetTextDatum(v->message);
	nulls[3][k] = v->message[0] == '\0';
	cols[4][k] = Int64GetDatum(v->processed);
	cols[5][k] = Int64GetDatum(v->succeeded);
	cols[6][k] = Int64GetDatum(v->failed);
	cols[7][k] = TimestampTzGetDatum(v->at);
}

/* The arrays of zj_progress_store_rows. */
typedef struct ZjProgressRows
{
	Datum	  **cols;
	bool	  **nulls;
	int			n;
} ZjProgressRows;

/*
 * One UPDATE for the runs, in the launcher's transaction (see
 * zj_progress_store).  unnest unqualified: its several-array form is
 * syntax of FROM only (our statements run with search_path pg_catalog, see
 * query.c).
 */
static void
zj_progress_store_rows(void *arg)
{
	static SPIPlanPtr plan = NULL;
	static const Oid elem[ZJ_STORE_NCOLS] = {INT8OID, INT8OID, INT8OID, TEXTOID,
	INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID};
	Oid			types[ZJ_STORE_NCOLS] = {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID,
		TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID,
	TIMESTAMPTZARRAYOID};
	ZjProgressRows *rows = arg;
	Datum		values[ZJ_STORE_NCOLS];
	int			i;

	for (i = 0; i < ZJ_STORE_NCOLS; i++)
		values[i] = zj_query_array(rows->cols[i], rows->nulls[i], rows->n, elem[i]);
	zj_query_begin();
	zj_query_exec(&plan,
				  "UPDATE jobs.runs AS r SET"
				  " progress_current = coalesce(u.cur, r.progress_current),"
				  " progress_total = coalesce(u.tot, r.progress_total),"
				  " progress_message = coalesce(u.msg, r.progress_message),"
				  " items_processed = u.p, items_succeeded = u.s, items_failed = u.f,"
				  " progress_at = u.at"
				  " FROM unnest($1, $2, $3, $4, $5, $6, $7, $8)"
				  "  AS u(id, cur, tot, msg, p, s, f, at)"
				  " WHERE r.id = u.id AND r.id IN (SELECT q.id FROM jobs.runs q"
				  "  WHERE q.id = ANY ($1) AND q.status = 'running'"
				  "  FOR NO KEY UPDATE SKIP LOCKED)",
				  ZJ_STORE_NCOLS, types, values, NULL);
	zj_query_end();
}

PG_FUNCTION_INFO_V1(zj_progress);
PG_FUNCTION_INFO_V1(zj_count_items);
PG_FUNCTION_INFO_V1(zj_live_progress);

/* The worker's own slot (NULL in other processes). */
static ZjProgress *zj_my_progress = NULL;
static TimestampTz zj_progress_poked_at = 0;

/* Launcher: what it last published, per slot. */
static uint32 *zj_progress_published_count = NULL;
static TimestampTz *zj_progress_published_at = NULL;

void
zj_progress_attach(ZjWorkerSlot *slot)
{
	zj_my_progress = &slot->progress;
}

/*
 * Writer side of the changecount protocol (see ZjProgress).  The worker is
 * the only writer: a plain increment does, as for PgBackendStatus.
 */
static inline void
zj_progress_bump(void)
{
	pg_atomic_write_u32(&zj_my_progress->changecount,
						pg_atomic_read_u32(&zj_my_progress->changecount) + 1);
}

static inline void
zj_progress_write_begin(void)
{
	zj_progress_bump();
	pg_write_barrier();
}

static inline void
zj_progress_write_end(void)
{
	pg_write_barrier();
	zj_progress_bump();
}

/* A run starts: its progress is blank. */
void
zj_progress_begin_run(ZjRun *run)
{
	ZjProgressValues *v = &zj_my_progress->v;

	zj_progress_write_begin();
	memset(v, 0, sizeof(*v));
	v->run_id = run->id;
	v->current = -1;
	v->total = -1;
	if (run->name != NULL)
		strlcpy(v->name, run->name, sizeof(v->name));
	zj_progress_write_end();
}

/* A run ends: keep what it reported (run->progress) and blank the slot. */
void
zj_progress_end_run(ZjRun *run)
{
	ZjProgressValues *v = &zj_my_progress->v;

	if (v->run_id != run->id)
		return;					/* ended already */
	run->progress = NULL;
	if (v->at != 0)
	{
		run->progress = MemoryContextAlloc(zj_runctx_cxt, sizeof(*v));
		memcpy(run->progress, v, sizeof(*v));
	}
	zj_progress_write_begin();
	v->run_id = 0;
	zj_progress_write_end();
}

/* Forget a slot's progress (its worker left, or the slot is reused). */
void
zj_progress_clear(ZjProgress *p)
{
	pg_atomic_write_u32(&p->changecount, pg_atomic_read_u32(&p->changecount) + 1);
	pg_write_barrier();
	memset(&p->v, 0, sizeof(p->v));
	pg_write_barrier();
	pg_atomic_write_u32(&p->changecount, pg_atomic_read_u32(&p->changecount) + 1);
}

/* Reader side: a consistent copy; false if the slot has no run. */
bool
zj_progress_read(ZjProgress *p, ZjProgressValues *out)
{
	for (;;)
	{
		uint32		before = pg_atomic_read_u32(&p->changecount);

		pg_read_barrier();
		memcpy(out, &p->v, sizeof(*out));
		pg_read_barrier();
		if (before % 2 == 0 && pg_atomic_read_u32(&p->changecount) == before)
			break;
		CHECK_FOR_INTERRUPTS();
	}
	return out->run_id != 0;
}

/*
 * The progress of the run slot executes, if it is one of this database's
 * (read between two looks at the slot's database: it may change owner).
 */
static bool
zj_progress_read_mine(ZjWorkerSlot *slot, ZjProgressValues *out)
{
	if (slot->database != MyDatabaseId)
		return false;
	if (!zj_progress_read(&slot->progress, out) || out->at == 0)
		return false;
	pg_read_barrier();
	return slot->database == MyDatabaseId;
}

/* Outside a job: say so, do nothing.  True if the caller may go on. */
static bool
zj_progress_in_job(const char *fn)
{
	if (zj_runctx_run != NULL && zj_my_progress != NULL)
		return true;
	ereport(NOTICE,
			(errmsg("%s does nothing outside a running job", fn)));
	return false;
}

static int64
zj_progress_count_arg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	int64		n = PG_GETARG_INT64(argno);

	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", what)));
	return n;
}

/*
 * Finish a change.  The launcher, which may be asleep, is woken at most
 * every ZJ_PROGRESS_EVERY_MS: it publishes no more often anyway.
 */
static void
zj_progress_changed(void)
{
	TimestampTz now = GetCurrentTimestamp();

	zj_my_progress->v.at = now;
	zj_progress_write_end();
	if (now - zj_progress_poked_at >= ZJ_PROGRESS_EVERY_MS * 1000)
	{
		zj_progress_poked_at = now;
		zj_wakeup_launcher();
	}
}

/* Set the running job's progress; total < 0 or message NULL: unchanged. */
void
zj_progress_set(int64 current, int64 total, const char *message)
{
	ZjProgressValues *v = &zj_my_progress->v;

	zj_progress_write_begin();
	v->current = current;
	if (total >= 0)
		v->total = total;
	if (message != NULL)
	{
		int			len = strlen(message);

		if (len >= ZJ_MESSAGE_MAX)
			len = pg_mbcliplen(message, len, ZJ_MESSAGE_MAX - 1);
		memcpy(v->message, message, len);
		v->message[len] = '\0';
	}
	zj_progress_changed();
}

/*
 * jobs.progress(current, total DEFAULT NULL, message DEFAULT NULL): NULL
 * total or message keep the previous one.
 */
Datum
zj_progress(PG_FUNCTION_ARGS)
{
	int64		current;
	int64		total = -1;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("current must not be NULL")));
	current = zj_progress_count_arg(fcinfo, 0, "current");
	if (!PG_ARGISNULL(1))
		total = zj_progress_count_arg(fcinfo, 1, "total");
	if (!zj_progress_in_job("jobs.progress()") || !zj_runctx_may_report())
		PG_RETURN_VOID();

	zj_progress_set(current, total,
					PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2)));
	PG_RETURN_VOID();
}

/* jobs.count_items(processed DEFAULT 1, succeeded DEFAULT 0, failed DEFAULT 0) */
Datum
zj_count_items(PG_FUNCTION_ARGS)
{
	ZjProgressValues *v;
	int64		processed;
	int64		succeeded;
	int64		failed;

	processed = PG_ARGISNULL(0) ? 0 : zj_progress_count_arg(fcinfo, 0, "processed");
	succeeded = PG_ARGISNULL(1) ? 0 : zj_progress_count_arg(fcinfo, 1, "succeeded");
	failed = PG_ARGISNULL(2) ? 0 : zj_progress_count_arg(fcinfo, 2, "failed");
	if (!zj_progress_in_job("jobs.count_items()") || !zj_runctx_may_report())
		PG_RETURN_VOID();

	v = &zj_my_progress->v;
	zj_progress_write_begin();
	v->processed += processed;
	v->succeeded += succeeded;
	v->failed += failed;
	zj_progress_changed();
	PG_RETURN_VOID();
}

/*
 * Launcher: publish progress that changed, at most every
 * ZJ_PROGRESS_EVERY_MS per run.  Returns ms until it should look again,
 * or -1 when no running job reports progress.
 */
long
zj_progress_publish(void)
{
	TimestampTz now = GetCurrentTimestamp();
	long		next = -1;
	int			i;

	if (zj_progress_published_count == NULL)
	{
		zj_progress_published_count = MemoryContextAllocZero(TopMemoryContext,
													sizeof(uint32) * zj_shared->nslots);
		zj_progress_published_at = MemoryContextAllocZero(TopMemoryContext,
												 sizeof(TimestampTz) * zj_shared->nslots);
	}
	for (i = 0; i < zj_shared->nslots; i++)
	{
		ZjProgress *p = &zj_shared->slots[i].progress;
		uint32		count = pg_atomic_read_u32(&p->changecount);
		ZjProgressValues v;
		ZjRunEvent	ev;

		if (count == zj_progress_published_count[i] ||
			!zj_progress_read_mine(&zj_shared->slots[i], &v))
			continue;
		next = ZJ_PROGRESS_EVERY_MS;
		if (!TimestampDifferenceExceeds(zj_progress_published_at[i], now, ZJ_PROGRESS_EVERY_MS))
			continue;

		/* After the run's "running" event: it is in the backlog by then. */
		if (!zj_publisher_caught_up(false))
			continue;
		zj_events_fill_progress(&ev, &v, NULL);
		zj_events_add_local(&ev);
		zj_progress_published_count[i] = count;
		zj_progress_published_at[i] = now;
	}
	return next;
}

/*
 * Launcher: write the live progress of running runs into their rows, at
 * most every ZJ_PROGRESS_STORE_MS, so that `SELECT * FROM jobs.runs WHERE
 * id = $1` shows it too (jobs.active reads it live).  Not a change of
 * state: only running rows nobody has locked are written (a run finishing
 * writes its last values itself); a failure costs this round only.
 */
void
zj_progress_store(void)
{
	static uint32 *stored = NULL;
	static TimestampTz stored_at = 0;
	TimestampTz now = GetCurrentTimestamp();
	Datum	   *cols[ZJ_STORE_NCOLS];
	bool	   *nulls[ZJ_STORE_NCOLS];
	int			n = 0;
	int			i;

	if (stored == NULL)
		stored = MemoryContextAllocZero(TopMemoryContext, sizeof(uint32) * zj_shared->nslots);
	if (!TimestampDifferenceExceeds(stored_at, now, ZJ_PROGRESS_STORE_MS))
		return;
	for (i = 0; i < ZJ_STORE_NCOLS; i++)
	{
		cols[i] = palloc(sizeof(Datum) * zj_shared->nslots);
		nulls[i] = palloc0(sizeof(bool) * zj_shared->nslots);
	}
	for (i = 0; i < zj_shared->nslots; i++)
	{
		ZjProgress *p = &zj_shared->slots[i].progress;
		uint32		count = pg_atomic_read_u32(&p->changecount);
		ZjProgressValues v;

		if (count == stored[i] || !zj_progress_read_mine(&zj_shared->slots[i], &v))
			continue;
		stored[i] = count;
		zj_progress_store_row(&v, cols, nulls, n++);
	}
	stored_at = now;
	if (n > 0)
	{
		ZjProgressRows rows = {cols, nulls, n};

		/* In a transaction of its own: a failure costs this round only. */
		(void) zj_query_own_xact(zj_progress_store_rows, &rows);
	}
}

/* May the current user see the runs of role? */
static bool
zj_progress_may_see(Oid role)
{
	return is_member_of_role(GetUserId(), role);
}

static void
zj_progress_row(Tuplestorestate *store, TupleDesc desc, const ZjProgressValues *v)
{
	Datum		values[8];
	bool		nulls[8] = {false};

	values[0] = Int64GetDatum(v->run_id);
	values[1] = Int64GetDatum(v->current);
	nulls[1] = v->current < 0;
	values[2] = Int64GetDatum(v->total);
	nulls[2] = v->total < 0;
	values[3] = CStringGetTextDatum(v->message);
	nulls[3] = v->message[0] == '\0';
	values[4] = Int64GetDatum(v->processed);
	values[5] = Int64GetDatum(v->succeeded);
	values[6] = Int64GetDatum(v->failed);
	values[7] = TimestampTzGetDatum(v->at);
	tuplestore_putvalues(store, desc, values, nulls);
}

/* jobs.live_progress(): progress of the runs executing now (that we may see). */
Datum
zj_live_progress(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Tuplestorestate *store = zj_srf_begin(fcinfo, &desc);
	int			i;

	for (i = 0; zj_shmem_ready() && i < zj_shared->nslots; i++)
	{
		ZjWorkerSlot *slot = &zj_shared->slots[i];
		ZjProgressValues v;

		if (slot->state == ZJ_SLOT_BUSY && zj_progress_read_mine(slot, &v) &&
			zj_progress_may_see(slot->role))
			zj_progress_row(store, desc, &v);
	}
	return (Datum) 0;
}
