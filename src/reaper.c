/*-------------------------------------------------------------------------
 *
 * reaper.c
 *	  Ends the attempts whose worker is gone: a worker that exited (FATAL,
 *	  terminated by the watchdog, killed) or a server that crashed leaves
 *	  its run "running" in jobs.runs.  The launcher calls zj_reaper_run
 *	  when a worker exited and every few seconds; the attempt ends as
 *	  interrupted (or timed out, past its deadline) through failure.c's
 *	  decision, like any other, and what is left of a shell job's process
 *	  group is killed.
 *
 *	  While a restore loads the database (restore.c) it reaps nothing: the
 *	  runs a dump caught running are reaped once the restore is over.
 *	  When the launcher starts serving the database, and after a restore
 *	  it saw, it has the parents of waiting runs counted again (edges
 *	  loaded after their parent ended: runstate_deps.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"

#include "miscadmin.h"

#include "utils/timestamp.h"

#include "failure.h"
#include "procgroup.h"
#include "query.h"
#include "reaper.h"
#include "restore.h"
#include "runstate.h"
#include "shmem.h"

/* The extension whose waiting runs were counted again, and a restore seen since. */
static Oid	zj_reaper_counted_for = InvalidOid;
static bool zj_reaper_saw_restore = false;

/* Is the worker that claimed this attempt still executing it? */
static bool
zj_reaper_worker_alive(int64 id, int32 pid, int64 epoch)
{
	bool		alive = false;
	int			i;

	if ((uint64) epoch != zj_shared->epoch)
		return false;
	LWLockAcquire(zj_shared->lock, LW_SHARED);
	for (i = 0; i < zj_shared->nslots; i++)
	{
		ZjWorkerSlot *slot = &zj_shared->slots[i];

		if (slot->pid == pid && slot->claimed_id == id &&
			slot->database == MyDatabaseId)
			alive = true;
	}
	LWLockRelease(zj_shared->lock);
	return alive;
}

/*
 * A worker that died (or a server that crashed) in a batch may have been
 * killed by one of the runs it had only locked, whose attempt did not
 * count: a job that crashes the server, or one the watchdog terminated
 * for ignoring the batch's limit.  Runs pending now run on their own from
 * now on, each attempt counted, so such a run cannot do it forever.
 */
static void
zj_reaper_no_batch_below_max_id(void)
{
	static SPIPlanPtr plan = NULL;
	bool		isnull;
	Datum		d;

	zj_query_exec(&plan, "SELECT max(id) FROM jobs.runs", 0, NULL, NULL, NULL);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		pg_atomic_write_u64(&zj_db->batch_min_id, (uint64) DatumGetInt64(d) + 1);
}

/* A running run the reaper looked at. */
typedef struct ZjReaperRun
{
	int64		id;
	int32		attempt;
	int32		pid;
	bool		crashed;		/* claimed in an earlier server lifetime */
	TimestampTz started_at;
	int64		timeout_ms;
	int32		shell_pgid;		/* a shell run's process group, or 0 */
} ZjReaperRun;

/* End the attempt of a running run whose worker is gone; false if it had ended. */
static bool
zj_reaper_end_one(const ZjReaperRun *r)
{
	ZjRun		run;
	ZjFailure	f;

	/* Nothing of a shell job may outlive its worker. */
	if (r->shell_pgid > 0)
		zj_procgroup_kill_orphans(r->shell_pgid);
	memset(&run, 0, sizeof(run));
	run.id = r->id;
	run.attempt = r->attempt;
	run.timeout_ms = r->timeout_ms;
	memset(&f, 0, sizeof(f));
	f.outcome = ZJ_OUTCOME_INTERRUPTED;
	f.crashed = r->crashed;
	f.sqlstate = r->crashed ? "57P02" : "57P01";
	f.message = r->crashed ?
		"the server restarted while the job was running" :
		"the worker running the job exited before it finished";
	if (!r->crashed && r->started_at != 0 &&
		GetCurrentTimestamp() >= r->started_at + r->timeout_ms * 1000)
		zj_failure_timed_out(&f, run.id, run.timeout_ms,
							 "The job did not stop at its deadline; its worker was terminated.");
	return zj_runstate_end_attempt(&run, &f);
}

/* The running runs whose worker is gone, in *n entries. */
static ZjReaperRun *
zj_reaper_find_orphans(int *n)
{
	static SPIPlanPtr plan = NULL;
	ZjReaperRun   *found;
	MemoryContext cxt = CurrentMemoryContext;
	uint64		i;

	*n = 0;
	zj_query_begin();
	zj_query_exec(&plan,
				 "SELECT id, attempt, worker_pid, worker_epoch, started_at,"
				 " (extract(epoch FROM timeout) * 1000)::int8, shell_pgid"
				 " FROM jobs.runs WHERE status = 'running'",
				 0, NULL, NULL, NULL);
	found = MemoryContextAllocZero(cxt, sizeof(ZjReaperRun) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		ZjReaperRun   *r = &found[*n];
		bool		isnull;
		Datum		epoch = SPI_getbinval(tup, desc, 4, &isnull);

		r->id = zj_query_int8(tup, desc, 1);
		r->attempt = zj_query_int4(tup, desc, 2);
		r->pid = zj_query_int4(tup, desc, 3);
		r->crashed = isnull ||
			(uint64) DatumGetInt64(epoch) != zj_shared->epoch;
		r->started_at = zj_query_time(tup, desc, 5);
		r->timeout_ms = zj_query_int8(tup, desc, 6);
		r->shell_pgid = zj_query_int4(tup, desc, 7);
		if (r->crashed || !zj_reaper_worker_alive(r->id, r->pid, DatumGetInt64(epoch)))
			(*n)++;
	}
	zj_query_end();
	return found;
}

/*
 * Waiting runs whose parents ended before their edges were there: when
 * the launcher starts serving the extension, and after a restore.
 */
static void
zj_reaper_recount_waiting(void)
{
	int			n;

	if (zj_reaper_counted_for == zj_db->extension && !zj_reaper_saw_restore)
		return;
	n = zj_runstate_recount_waiting();
	if (n > 0)
		elog(LOG, "zapjobs counted again the parents of %d waiting run(s)", n);
	zj_reaper_counted_for = zj_db->extension;
	zj_reaper_saw_restore = false;
}

/*
 * End the attempts of running runs whose worker is gone; returns how
 * many.  A worker sets its slot's claimed_id before its claim commits and
 * clears it after the outcome commits, and zj_runstate_end_attempt re-checks the row
 * under lock, so a run finishing while we look (its worker already on the
 * next) is never touched, nor counted: under load that is most of what
 * zj_reaper_find_orphans finds, and only real orphans may stop batches.
 */
int
zj_reaper_run(void)
{
	int			n;
	int			i;
	int			reaped = 0;
	ZjReaperRun   *orphans;

	if (zj_restore_under_way())
	{
		if (!zj_reaper_saw_restore)
			elog(LOG, "zapjobs launcher: a restore is loading database \"%s\"; its runs start when it ends",
				 get_database_name(MyDatabaseId));
		zj_reaper_saw_restore = true;
		return 0;
	}
	zj_reaper_recount_waiting();
	orphans = zj_reaper_find_orphans(&n);

	for (i = 0; i < n; i++)
	{
		if (!zj_reaper_end_one(&orphans[i]))
			continue;
		/* At once: shared memory keeps it should a later reap fail. */
		if (reaped++ == 0)
		{
			zj_query_begin();
			zj_reaper_no_batch_below_max_id();
			zj_query_end();
		}
	}
	pfree(orphans);
	return reaped;
}
