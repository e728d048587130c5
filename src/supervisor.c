/*-------------------------------------------------------------------------
 *
 * supervisor.c
 *	  The supervisor: one static background worker, connected to no
 *	  database, that keeps a launcher (launcher.c) running in every
 *	  database with the extension.  PostgreSQL cannot tell a process which
 *	  databases have an extension without connecting to each, so at start
 *	  it starts a launcher in every database that accepts connections and
 *	  is no template; a launcher that finds no extension leaves at once and
 *	  that database is not looked at again until a CREATE EXTENSION there
 *	  (utility.c) or a backend with events for it (shmem.c) takes its entry
 *	  back.  A database created since the last look (pg_database is a
 *	  shared catalog, read without connecting) gets the same first look.
 *	  A launcher that died is restarted after a second; the entry of a
 *	  database gone, no longer accepting connections, or without the
 *	  extension is freed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "bgworker.h"
#include "shmem.h"
#include "supervisor.h"

#define ZJ_SUPERVISOR_SCAN_MS	5000	/* look at pg_database this often */
#define ZJ_LAUNCHER_RETRY_MS	1000	/* restart a dead launcher after */

/* Per database entry, supervisor-local: its launcher and when to retry. */
static BackgroundWorkerHandle **zj_sup_handles = NULL;
static TimestampTz *zj_sup_retry_after = NULL;

/* Databases eligible at the last look, and those given their first look. */
static List *zj_sup_eligible = NIL;	/* in TopMemoryContext */
static List *zj_sup_looked = NIL;

static bool zj_sup_warned_full = false;

void
zj_supervisor_register(void)
{
	BackgroundWorker w;

	zj_bgworker_describe(&w, "zj_supervisor_main", "zapjobs supervisor",
						 "zapjobs supervisor");
	w.bgw_restart_time = 1;
	RegisterBackgroundWorker(&w);
}

/* May zapjobs connect to this database?  See the file comment. */
static bool
zj_supervisor_eligible(Form_pg_database d)
{
	if (!d->datallowconn || d->datistemplate ||
		d->datconnlimit == DATCONNLIMIT_INVALID_DB)
		return false;
	return zj_database == NULL || zj_database[0] == '\0' ||
		strcmp(NameStr(d->datname), zj_database) == 0;
}

/* Read pg_database into zj_sup_eligible. */
static void
zj_supervisor_read_databases(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	List	   *eligible = NIL;
	MemoryContext old;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database d = (Form_pg_database) GETSTRUCT(tup);

		if (zj_supervisor_eligible(d))
			eligible = lappend_oid(eligible, d->oid);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	list_free(zj_sup_eligible);
	old = MemoryContextSwitchTo(TopMemoryContext);
	zj_sup_eligible = list_copy(eligible);	/* outlives the transaction */
	MemoryContextSwitchTo(old);
	CommitTransactionCommand();
}

/*
 * Look at the databases: a new eligible one gets an entry (its launcher
 * is started by zj_supervisor_tend); one no longer eligible loses its.
 */
static void
zj_supervisor_scan(void)
{
	List	   *looked = NIL;
	ListCell   *lc;
	MemoryContext old;

	zj_supervisor_read_databases();
	old = MemoryContextSwitchTo(TopMemoryContext);	/* the lists live on */
	/* A database found no free entry (CREATE EXTENSION, say): look again. */
	if (pg_atomic_exchange_u32(&zj_shared->entries_short, 0) != 0)
	{
		list_free(zj_sup_looked);
		zj_sup_looked = NIL;
	}
	/* Forget databases gone, so that their oid may come back. */
	foreach(lc, zj_sup_looked)
		if (list_member_oid(zj_sup_eligible, lfirst_oid(lc)))
			looked = lappend_oid(looked, lfirst_oid(lc));
	list_free(zj_sup_looked);
	zj_sup_looked = looked;
	foreach(lc, zj_sup_eligible)
	{
		Oid			db = lfirst_oid(lc);

		if (list_member_oid(zj_sup_looked, db) || zj_shmem_database_held(db))
			continue;
		if (zj_shmem_take_db(db) == NULL)
		{
			if (!zj_sup_warned_full)
				ereport(WARNING,
						(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						 errmsg("zapjobs cannot look at database %u: all %d database entries are taken",
								db, zj_shared->ndbs),
						 errhint("Raise zapjobs.max_databases (needs a restart).")));
			zj_sup_warned_full = true;
			continue;
		}
		zj_sup_looked = lappend_oid(zj_sup_looked, db);
	}
	MemoryContextSwitchTo(old);
}

/*
 * The launcher of entry i left.  It says so when it found no extension
 * and no CREATE EXTENSION came since it looked: free the entry.  Else
 * (an error, a crash, DROP DATABASE) it is started again after a while,
 * if the database is still there.
 */
static void
zj_supervisor_launcher_left(int i)
{
	ZjDatabase *db = &zj_shared->dbs[i];
	bool		absent;

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	absent = db->absent;
	if (absent)
		db->database = InvalidOid;
	LWLockRelease(zj_shared->lock);
	/* A CREATE EXTENSION taking the entry again is served at once. */
	zj_sup_retry_after[i] = absent ? 0 :
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ZJ_LAUNCHER_RETRY_MS);
}

static void
zj_supervisor_start_launcher(int i)
{
	ZjDatabase *db = &zj_shared->dbs[i];
	BackgroundWorker w;
	char		name[BGW_MAXLEN];
	Oid			database = db->database;
	MemoryContext old;

	snprintf(name, sizeof(name), "zapjobs launcher for database %u", database);
	zj_bgworker_describe(&w, "zj_launcher_main", name, "zapjobs launcher");
	w.bgw_main_arg = Int32GetDatum(i);
	memcpy(w.bgw_extra, &database, sizeof(database));
	w.bgw_notify_pid = MyProcPid;
	old = MemoryContextSwitchTo(TopMemoryContext);
	if (!RegisterDynamicBackgroundWorker(&w, &zj_sup_handles[i]))
	{
		zj_sup_handles[i] = NULL;
		zj_sup_retry_after[i] = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															ZJ_LAUNCHER_RETRY_MS);
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("zapjobs could not start a launcher for database %u: no free background worker slots",
						database),
				 errhint("Raise max_worker_processes.")));
	}
	MemoryContextSwitchTo(old);
}

/*
 * Free the entry of a database not eligible: once its launcher is gone
 * (one we did not start, after a restart of ours, is told to go).
 */
static void
zj_supervisor_free_ineligible(int i)
{
	ZjDatabase *db = &zj_shared->dbs[i];

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	if (OidIsValid(db->database) && !db->dropping &&
		!list_member_oid(zj_sup_eligible, db->database))
	{
		if (db->launcher == NULL)
			db->database = InvalidOid;
		else
			(void) kill(db->launcher->pid, SIGTERM);
	}
	LWLockRelease(zj_shared->lock);
}

/*
 * Notice launchers that left; start those missing.  Entries of databases
 * not eligible are freed only right after a look at pg_database (scanned):
 * a backend may have taken one for a database created since.  Returns ms
 * to sleep.
 */
static long
zj_supervisor_tend(bool scanned)
{
	TimestampTz now = GetCurrentTimestamp();
	long		sleep_ms = ZJ_SUPERVISOR_SCAN_MS;
	int			i;

	for (i = 0; i < zj_shared->ndbs; i++)
	{
		ZjDatabase *db = &zj_shared->dbs[i];
		pid_t		pid;

		if (zj_sup_handles[i] != NULL)
		{
			BgwHandleStatus st = GetBackgroundWorkerPid(zj_sup_handles[i], &pid);

			if (st == BGWH_POSTMASTER_DIED)
				proc_exit(1);
			if (st != BGWH_STOPPED)
			{
				/* A database no longer eligible loses its launcher. */
				if (!list_member_oid(zj_sup_eligible, db->database))
					TerminateBackgroundWorker(zj_sup_handles[i]);
				continue;
			}
			pfree(zj_sup_handles[i]);
			zj_sup_handles[i] = NULL;
			zj_supervisor_launcher_left(i);
		}
		if (scanned)
			zj_supervisor_free_ineligible(i);
		/* A launcher a previous supervisor started serves on. */
		if (!OidIsValid(db->database) || db->launcher != NULL ||
			zj_shmem_database_held(db->database))
			continue;
		if (now < zj_sup_retry_after[i])
			sleep_ms = Min(sleep_ms, (long) ((zj_sup_retry_after[i] - now) / 1000) + 1);
		else
			zj_supervisor_start_launcher(i);
	}
	return sleep_ms;
}

static void
zj_supervisor_detach(int code, Datum arg)
{
	zj_shared->supervisor = NULL;
}

void
zj_supervisor_main(Datum arg)
{
	TimestampTz next_scan = 0;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("zapjobs supervisor");

	zj_sup_handles = MemoryContextAllocZero(TopMemoryContext,
											zj_shared->ndbs * sizeof(void *));
	zj_sup_retry_after = MemoryContextAllocZero(TopMemoryContext,
												zj_shared->ndbs * sizeof(TimestampTz));
	zj_shared->supervisor = MyProc;
	before_shmem_exit(zj_supervisor_detach, (Datum) 0);

	for (;;)
	{
		long		sleep_ms;
		bool		scanned;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		ResetLatch(MyLatch);
		scanned = pg_atomic_exchange_u32(&zj_shared->rescan_requested, 0) != 0 ||
			GetCurrentTimestamp() >= next_scan;
		if (scanned)
		{
			zj_supervisor_scan();
			next_scan = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													ZJ_SUPERVISOR_SCAN_MS);
		}
		sleep_ms = zj_supervisor_tend(scanned);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
	}
}
