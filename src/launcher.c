/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  A database's launcher: a background worker the supervisor starts in
 *	  each database that may have the extension (supervisor.c), connected
 *	  as the bootstrap superuser.  Without the extension there it leaves at
 *	  once; with a schema older than this library's it waits, saying why.
 *	  Serving, it publishes run events whenever a commit produced some
 *	  (publisher.c, paced under load), and, when a worker exited, a commit
 *	  asked for workers, a scheduled run is due or the poll timeout passed,
 *	  it also
 *	    - reaps runs whose worker is gone (reaper.c),
 *	    - promotes scheduled runs that are due, sleeping until the next
 *	      (runstate.c),
 *	    - lowers the limits flag when no queue is paused or limited
 *	      (claim.c),
 *	    - shares the worker pool among the roles with pending runs (pool.c),
 *	    - removes finished runs whose time is up (retention.c),
 *	    - fires due schedules (schedule.c).
 *	  Every cycle it also stores the log lines workers buffered (joblog.c),
 *	  publishes the progress of running jobs (progress.c, every 100 ms
 *	  while there is some), and its watchdog terminates workers whose job
 *	  ignored its timeout or cancellation (watchdog.c).
 *	  An error in a cycle (say DROP EXTENSION under our feet) is logged and
 *	  the cycle retried; it never takes the launcher down.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "claim.h"
#include "joblog.h"
#include "launcher.h"
#include "pool.h"
#include "progress.h"
#include "publisher.h"
#include "query.h"
#include "ratelimit.h"
#include "reaper.h"
#include "retention.h"
#include "runstate.h"
#include "schedule.h"
#include "shmem.h"
#include "sqlexec.h"
#include "version.h"
#include "wakeup.h"
#include "watchdog.h"

#define ZJ_REAP_INTERVAL_MS 5000

static TimestampTz zj_launcher_last_reap = 0;
static TimestampTz zj_launcher_next_maintenance = 0;
static TimestampTz zj_launcher_last_vacuum = 0;
static uint64 zj_launcher_finished_at_vacuum = 0;
static MemoryContext zj_launcher_cycle_cxt = NULL;
static char zj_launcher_dbname[NAMEDATALEN];
static uint32 zj_launcher_requests;	/* CREATE EXTENSIONs when we looked */

static void
zj_launcher_detach(int code, Datum arg)
{
	bool		mine;

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	mine = zj_db->launcher == MyProc;
	if (mine)
	{
		zj_db->launcher = NULL;
		/* Nobody waits for a slot here any more: others may take them. */
		pg_atomic_write_u32(&zj_db->wants_slot, 0);
		pg_atomic_write_u64(&zj_db->next_due, (uint64) ZJ_NEXT_DUE_UNKNOWN);
	}
	LWLockRelease(zj_shared->lock);
}

/*
 * No extension here: our workers leave, and so do we.  Unless a CREATE
 * EXTENSION committed since we looked, the supervisor frees our entry.
 */
static void
zj_launcher_leave_unserved(void)
{
	zj_pool_retire_all();
	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	zj_db->absent = zj_db->requests == zj_launcher_requests;
	LWLockRelease(zj_shared->lock);
	proc_exit(0);
}

/*
 * An extension whose schema is older than this library's is not served:
 * say so once per version found.
 */
static bool
zj_launcher_schema_current(void)
{
	static char stale[NAMEDATALEN] = "";
	char	   *installed = zj_version_installed();

	if (installed == NULL || strcmp(installed, ZJ_SCHEMA_VERSION) == 0)
	{
		stale[0] = '\0';
		return true;
	}
	if (strcmp(stale, installed) != 0)
		ereport(LOG,
				(errmsg("zapjobs launcher not serving database \"%s\": its zapjobs schema is version %s, this library needs %s",
						zj_launcher_dbname, installed, ZJ_SCHEMA_VERSION),
				 errhint("Run ALTER EXTENSION zapjobs UPDATE in that database; runs start within a second after.")));
	strlcpy(stale, installed, sizeof(stale));
	return false;
}

/*
 * Is the extension there, with this library's schema?  Tell workers of a
 * dropped one to leave.
 */
static bool
zj_launcher_check_extension(bool *need_reap)
{
	Oid			ext;

	if (zj_db->dropping)
		proc_exit(0);
	/* Before our snapshot: a CREATE EXTENSION it misses bumps it after. */
	zj_launcher_requests = zj_db->requests;
	pg_memory_barrier();
	zj_query_xact_begin();
	ext = get_extension_oid(ZJ_EXTENSION_NAME, true);
	if (!OidIsValid(ext))
		zj_launcher_leave_unserved();
	if (!zj_launcher_schema_current())
		ext = InvalidOid;
	CommitTransactionCommand();

	if (ext != zj_db->extension)
	{
		zj_pool_retire_all();
		zj_db->extension = ext;
		*need_reap = true;
		if (OidIsValid(ext))
			elog(LOG, "zapjobs launcher serving database \"%s\"", zj_launcher_dbname);
	}
	return OidIsValid(ext);
}

static void
zj_launcher_reap(void)
{
	int			n;

	zj_query_xact_begin();
	n = zj_reaper_run();
	CommitTransactionCommand();
	if (n > 0)
		elog(LOG, "zapjobs reaped %d run(s) whose worker was gone", n);
	zj_launcher_last_reap = GetCurrentTimestamp();
}

/* Promote due runs; returns ms until the next scheduled run, or -1. */
static long
zj_launcher_promote(void)
{
	TimestampTz next_due = 0;
	int			n;

	/* Before our snapshots: see zj_wakeup_before_next_due. */
	pg_atomic_write_u64(&zj_db->next_due, (uint64) ZJ_NEXT_DUE_UNKNOWN);
	pg_memory_barrier();
	do
	{
		zj_query_xact_begin();
		n = zj_runstate_promote_due(&next_due);
		CommitTransactionCommand();
		zj_publisher_run();
	} while (n >= ZJ_PROMOTE_BATCH);

	pg_atomic_write_u64(&zj_db->next_due,
						(uint64) (next_due == 0 ? ZJ_NEXT_DUE_NONE : next_due));
	if (next_due == 0)
		return -1;
	return Max(1, (long) ((next_due - GetCurrentTimestamp()) / 1000) + 1);
}

/*
 * Vacuum jobs.runs when many runs finished since the last time.  Claims
 * scan the pending-runs index from its start, where every finished run
 * leaves a dead entry; autovacuum's pace (a minute) is far too slow for a
 * queue turning over thousands of runs a second.
 */
static void
zj_launcher_vacuum_if_due(void)
{
	uint64		changed = zj_publisher_finished + zj_retention_removed;

	if (zj_vacuum_threshold <= 0 ||
		changed - zj_launcher_finished_at_vacuum < (uint64) zj_vacuum_threshold ||
		!TimestampDifferenceExceeds(zj_launcher_last_vacuum, GetCurrentTimestamp(), 1000))
		return;
	zj_launcher_finished_at_vacuum = changed;
	zj_launcher_last_vacuum = GetCurrentTimestamp();
	/*
	 * VACUUM commits as it goes: its parse trees must outlive transactions.
	 * No parallel workers: they come from max_worker_processes, the pool
	 * our workers start from, and every second they would take cores from
	 * the runs' workers just when a large history makes index cleanup long.
	 */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	zj_sqlexec_execute("VACUUM (SKIP_LOCKED, INDEX_CLEANUP ON, TRUNCATE OFF, "
					   "PARALLEL 0) jobs.runs", zj_launcher_cycle_cxt);
	CommitTransactionCommand();
	/* Committers may be waiting for ring space: drain before anything else. */
	zj_publisher_run();
}

/*
 * Rate limits: when a full window has freed, idle workers look again (a
 * worker that saw it full sleeps until then anyway, but it may have
 * retired since).  Returns ms until the next full window frees, or -1.
 */
static long
zj_launcher_rate_limits(void)
{
	static TimestampTz free_at = 0;
	TimestampTz now = GetCurrentTimestamp();

	if (free_at != 0 && now >= free_at)
		zj_wakeup_idle_workers();
	free_at = zj_claim_limits_active() ? zj_ratelimit_next_free() : 0;
	if (free_at == 0)
		return -1;
	return Max((long) ((free_at - now) / 1000) + 1, 1);
}

/* Reap, promote and balance the pool; returns ms until it is due again. */
static long
zj_launcher_maintain(bool need_reap)
{
	long		sleep_ms = zj_poll_interval_ms;
	long		until_due;

	if (!zj_launcher_check_extension(&need_reap))
	{
		/* Nothing promotes: every commit scheduling a run must wake us. */
		pg_atomic_write_u64(&zj_db->next_due, (uint64) ZJ_NEXT_DUE_UNKNOWN);
		return sleep_ms;
	}
	if (need_reap ||
		TimestampDifferenceExceeds(zj_launcher_last_reap, GetCurrentTimestamp(),
								   ZJ_REAP_INTERVAL_MS))
		zj_launcher_reap();
	until_due = zj_launcher_promote();
	if (until_due >= 0)
		sleep_ms = Min(sleep_ms, until_due);
	zj_query_xact_begin();
	zj_claim_limits_refresh();
	until_due = zj_launcher_rate_limits();
	CommitTransactionCommand();
	if (until_due >= 0)
		sleep_ms = Min(sleep_ms, until_due);
	zj_pool_balance();
	zj_retention_run(zj_publisher_finished);
	/* Last: whatever users wrote into jobs.definitions cannot stop the rest. */
	until_due = zj_schedule_fire_due();
	if (until_due >= 0)
		sleep_ms = Min(sleep_ms, until_due);
	pgstat_report_stat(false);
	return sleep_ms;
}

/*
 * One wake-up.  Most wake-ups only bring events to publish (every commit
 * that changed runs sets our latch); the maintenance round runs when it
 * is due, when a worker exited, or when a commit asked for workers.
 * Returns how long to sleep, in ms.
 */
static long
zj_launcher_cycle(void)
{
	bool		need_reap = false;
	TimestampTz now;
	long		sleep_ms;
	long		watchdog_ms;
	long		progress_ms;

	zj_pool_check_exits(&need_reap);

	/*
	 * The ring first: a run's "running" event is in it before its job can
	 * log or report progress.  Progress after the ring: a run whose final
	 * event was there has left its slot already.
	 */
	zj_publisher_run();
	if (OidIsValid(zj_db->extension))
		zj_joblog_drain();
	progress_ms = zj_progress_publish();
	if (OidIsValid(zj_db->extension))
		zj_progress_store();
	zj_publisher_run();
	if (OidIsValid(zj_db->extension))
		zj_launcher_vacuum_if_due();

	now = GetCurrentTimestamp();
	if (pg_atomic_exchange_u32(&zj_db->maintenance_requested, 0) != 0 ||
		need_reap || now >= zj_launcher_next_maintenance)
	{
		long		ms = zj_launcher_maintain(need_reap);

		zj_launcher_next_maintenance = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
		zj_publisher_run();
	}
	sleep_ms = Max(1, (long) ((zj_launcher_next_maintenance - GetCurrentTimestamp()) / 1000));
	watchdog_ms = zj_watchdog_run();
	if (watchdog_ms >= 0)
		sleep_ms = Min(sleep_ms, watchdog_ms);
	return progress_ms >= 0 ? Min(sleep_ms, progress_ms) : sleep_ms;
}

/*
 * Run a cycle; log and roll back an error instead of dying of it.  What a
 * cycle allocates outside transactions goes to a context reset after it
 * (each commit leaves us in TopMemoryContext, so cycle steps allocate
 * only within their transactions or in memory they free).
 */
static long
zj_launcher_guarded_cycle(void)
{
	MemoryContext old = MemoryContextSwitchTo(zj_launcher_cycle_cxt);
	long		sleep_ms = zj_poll_interval_ms;

	PG_TRY();
	{
		sleep_ms = zj_launcher_cycle();
	}
	PG_CATCH();
	{
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(zj_launcher_cycle_cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		/* An error outside a transaction leaves LWLocks to us to release. */
		LWLockReleaseAll();
		RESUME_INTERRUPTS();
	}
	PG_END_TRY();

	MemoryContextSwitchTo(old);
	MemoryContextReset(zj_launcher_cycle_cxt);
	return sleep_ms;
}

/* Take our database's entry; leave if another launcher has it. */
static void
zj_launcher_attach(void)
{
	bool		ours;

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	ours = zj_db->database == MyDatabaseId && zj_db->launcher == NULL &&
		!zj_db->dropping;
	if (ours)
		zj_db->launcher = MyProc;
	LWLockRelease(zj_shared->lock);
	if (!ours)
		proc_exit(0);
	before_shmem_exit(zj_launcher_detach, (Datum) 0);
}

void
zj_launcher_main(Datum arg)
{
	Oid			database;

	memcpy(&database, MyBgworkerEntry->bgw_extra, sizeof(database));
	zj_db = &zj_shared->dbs[DatumGetInt32(arg)];
	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	if (zj_db->database != database || zj_db->dropping)
		proc_exit(0);
	BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);
	pgstat_report_appname("zapjobs launcher");
	/* extension stays as a previous launcher left it: its workers live on. */
	zj_launcher_attach();
	StartTransactionCommand();
	strlcpy(zj_launcher_dbname, get_database_name(MyDatabaseId), NAMEDATALEN);
	CommitTransactionCommand();

	zj_launcher_cycle_cxt = AllocSetContextCreate(TopMemoryContext,
												  "zapjobs launcher cycle",
												  ALLOCSET_DEFAULT_SIZES);
	zj_pool_reset();
	zj_schedule_apply_cron_settings();

	for (;;)
	{
		long		sleep_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			zj_schedule_apply_cron_settings();
		}
		ResetLatch(MyLatch);
		/* Our entry is ours as long as we run; if not, leave at once. */
		if (zj_db->launcher != MyProc || zj_db->database != MyDatabaseId)
			proc_exit(0);
		sleep_ms = zj_launcher_guarded_cycle();
		/* No pause when a worker waits; events coming meanwhile set our latch. */
		if (pg_atomic_read_u32(&zj_db->maintenance_requested) == 0)
			zj_publisher_pace();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
	}
}
