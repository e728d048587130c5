/*-------------------------------------------------------------------------
 *
 * restore.c
 *	  A restore into a database zapjobs serves.  pg_restore and psql run
 *	  CREATE EXTENSION, then load jobs.runs and commit, then the
 *	  dependencies, queues, limits, logs and sequences, then the rest of
 *	  the database, each table in a transaction of its own; the launcher
 *	  serves the database from the moment the extension exists.  Left
 *	  alone, it would start restored runs before their queue is paused
 *	  again or their limits are back, before the tables their jobs use are
 *	  loaded, and parents before their children's edges are there (the
 *	  children would wait forever); retention could remove runs whose logs
 *	  are still to come, and a schedule could take an id the restore is
 *	  about to load.
 *
 *	  So a session that loads jobs.runs or jobs.dependencies as a restore
 *	  does (a COPY into the table, or an INSERT into it that the client
 *	  sent; never one of zapjobs' own), or copies into jobs.definitions
 *	  (pg_restore --jobs may load them first, in another session), takes
 *	  a lock and keeps it until it ends: the restore lock, an advisory lock of zapjobs' own, held in
 *	  share mode, so that the sessions of pg_restore --jobs do not wait for
 *	  each other.  Claims, the reaper, retention and schedules try it in a
 *	  mode that conflicts, for the rest of their transaction: while a
 *	  restore holds it they leave the database alone, and a restore that
 *	  comes waits for those under way (they see none of its rows).  When
 *	  the session ends, the claims' limits flag is raised (paused queues
 *	  and limits came back behind the launcher's back), the lock let go,
 *	  and the launcher and idle workers woken.
 *
 *	  Edges loaded after their parent ended (a restore in steps: the runs
 *	  by one session, the rest by another) were not there for the parent's
 *	  end to settle: after a statement loads edges, the waiting runs are
 *	  counted again (zj_runstate_recount_waiting).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "parser/parsetree.h"
#include "storage/ipc.h"
#include "storage/lock.h"
#include "tcop/pquery.h"
#include "utils/rel.h"
#include "utils/resowner.h"

#include "restore.h"
#include "runstate.h"
#include "shmem.h"
#include "wakeup.h"

PG_FUNCTION_INFO_V1(zj_restore_loading);

/* The restore lock's key: "zjob", "rest" (advisory, two int4 keys). */
#define ZJ_RESTORE_KEY1 0x7a6a6f62
#define ZJ_RESTORE_KEY2 0x72657374

/* Is zj_restore_ended registered in this session? */
static bool zj_restore_registered = false;

/* The entry whose count of restoring sessions we are in, or NULL. */
static ZjDatabase *zj_restore_counted = NULL;

static void
zj_restore_locktag(LOCKTAG *tag)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, ZJ_RESTORE_KEY1, ZJ_RESTORE_KEY2, 2);
}

/*
 * In a transaction of zapjobs' own, before it looks at runs: is a restore
 * loading this database?  If not, no restore starts loading it before
 * this transaction ends.  RowExclusiveLock conflicts with the restores'
 * ShareLock and not with itself.
 */
bool
zj_restore_under_way(void)
{
	LOCKTAG		tag;

	zj_restore_locktag(&tag);
	return LockAcquire(&tag, RowExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL;
}

/*
 * Claims ask this instead, before and after they look at runs: taking the
 * restore lock at every claim queues the workers on one lock-manager
 * partition.  A restore counts itself before it takes its lock and loads
 * anything, so a claim that saw none before and none after (with its
 * runs read in between) saw no restored run: true.  Otherwise the claim
 * asks zj_restore_under_way, or is rolled back.
 */
bool
zj_restore_none(void)
{
	pg_memory_barrier();
	return zj_shmem_my_db(false) != NULL && pg_atomic_read_u32(&zj_db->restores) == 0;
}

/*
 * The restoring session ends (before_shmem_exit, so before its locks go
 * the usual way): limits may be back, let go of the lock, wake the rest.
 */
static void
zj_restore_ended(int code, Datum arg)
{
	LOCKTAG		tag;
	bool		served = zj_shmem_my_db(false) != NULL;

	if (served)
	{
		/* Bump first: see zj_claim_limits_refresh. */
		pg_atomic_fetch_add_u32(&zj_db->limits_changes, 1);
		pg_atomic_write_u32(&zj_db->limits_active, 1);
	}
	/* pg_advisory_unlock_all() lets go of it too. */
	zj_restore_locktag(&tag);
	if (LockHeldByMe(&tag, ShareLock))
		LockRelease(&tag, ShareLock, true);
	if (zj_restore_counted != NULL && zj_restore_counted->database == MyDatabaseId)
		pg_atomic_fetch_sub_u32(&zj_restore_counted->restores, 1);
	zj_restore_counted = NULL;
	if (served)
	{
		zj_wakeup_idle_workers();
		zj_wakeup_maintenance();
	}
}

/* Take the restore lock for the rest of this session, once. */
static void
zj_restore_take(Relation rel)
{
	LOCKTAG		tag;

	zj_restore_locktag(&tag);
	if (LockHeldByMe(&tag, ShareLock))
		return;
	if (!zj_restore_registered)
		before_shmem_exit(zj_restore_ended, (Datum) 0);
	zj_restore_registered = true;
	if (zj_restore_counted == NULL && zj_shmem_my_db(true) != NULL)
	{
		zj_restore_counted = zj_db;
		pg_atomic_fetch_add_u32(&zj_db->restores, 1);
		pg_memory_barrier();
	}
	(void) LockAcquire(&tag, ShareLock, true, false);
	ereport(LOG,
			(errmsg("zapjobs starts no run in database \"%s\" until this session ends",
					get_database_name(MyDatabaseId)),
			 errdetail("The session loads %s, as a restore does.",
					   RelationGetRelationName(rel))));
}

/*
 * Does the statement the client sent load rel: a COPY into it, or (unless
 * copy_only) an INSERT into it?  zapjobs' own INSERTs run inside the
 * client's statement (SELECT jobs.enqueue(...)) or in a background worker.
 */
static bool
zj_restore_statement_loads(Relation rel, bool copy_only)
{
	Oid			relid = RelationGetRelid(rel);
	ListCell   *lc;

	if (ActivePortal == NULL)
		return false;
	foreach(lc, ActivePortal->stmts)
	{
		PlannedStmt *ps = lfirst_node(PlannedStmt, lc);

		if (!copy_only && ps->commandType == CMD_INSERT && ps->resultRelations != NIL &&
			rt_fetch(linitial_int(ps->resultRelations), ps->rtable)->relid == relid)
			return true;
		if (ps->commandType == CMD_UTILITY && IsA(ps->utilityStmt, CopyStmt))
		{
			CopyStmt   *copy = (CopyStmt *) ps->utilityStmt;

			if (copy->is_from && copy->relation != NULL &&
				RangeVarGetRelid(copy->relation, NoLock, true) == relid)
				return true;
		}
	}
	return false;
}

/*
 * Count the waiting runs' parents again after edges came in.  An error
 * must not cost the restore its edges: it is reported, and the launcher
 * counts again when it sees the restore end.
 */
static void
zj_restore_recount(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		int			n = zj_runstate_recount_waiting();

		ReleaseCurrentSubTransaction();
		if (n > 0)
			ereport(LOG,
					(errmsg("zapjobs counted again the parents of %d waiting run(s) after dependencies were loaded", n)));
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ereport(WARNING,
				(errmsg("zapjobs could not count again the parents of waiting runs: %s",
						e->message),
				 errhint("The launcher counts them again when it next starts serving the database.")));
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
}

/*
 * jobs._restoring(): BEFORE INSERT on jobs.runs and jobs.definitions (with
 * the argument 'copy': only a COPY loads it), AFTER INSERT on
 * jobs.dependencies, for each statement.  Nothing for zapjobs' own writes.
 */
Datum
zj_restore_loading(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	bool		copy_only;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "jobs._restoring() must be called as a trigger");
	copy_only = td->tg_trigger->tgnargs > 0 &&
		strcmp(td->tg_trigger->tgargs[0], "copy") == 0;
	if (zj_restore_statement_loads(td->tg_relation, copy_only))
	{
		zj_restore_take(td->tg_relation);
		if (TRIGGER_FIRED_AFTER(td->tg_event) && zj_shmem_ready())
			zj_restore_recount();
	}
	return PointerGetDatum(NULL);
}
