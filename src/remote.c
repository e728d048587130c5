/*-------------------------------------------------------------------------
 *
 * remote.c
 *	  Running a command in another database, for zapjobs_cron's
 *	  cron.schedule_in_database: a run lives in the database that scheduled
 *	  it, and a process connected to the other one executes its command.
 *	  The caller (a job, as its owner) starts a background worker connected
 *	  to that database as the same role, hands it the command in a DSM
 *	  segment and waits; the worker executes it as a client's simple query
 *	  would (sqlexec.c) and leaves the outcome in the segment.  The caller's
 *	  cancellation, timeout or exit terminates the worker, so nothing of a
 *	  job outlives its run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "bgworker.h"
#include "sqlexec.h"

PG_FUNCTION_INFO_V1(zj_remote_run);
PGDLLEXPORT void zj_remote_main(Datum arg);

#define ZJ_REMOTE_TEXT 2048		/* message, detail, hint: each at most */

typedef enum ZjRemoteStatus
{
	ZJ_REMOTE_NONE = 0,			/* the worker never got to the end */
	ZJ_REMOTE_DONE,
	ZJ_REMOTE_FAILED
} ZjRemoteStatus;

/* The segment: written by the caller, then the outcome by the worker. */
typedef struct ZjRemote
{
	Oid			database;
	Oid			role;
	volatile ZjRemoteStatus status;
	int			sqlerrcode;
	char		message[ZJ_REMOTE_TEXT];
	char		detail[ZJ_REMOTE_TEXT];
	char		hint[ZJ_REMOTE_TEXT];
	char		command[FLEXIBLE_ARRAY_MEMBER];
} ZjRemote;

/* The refusals the worker's connection would make, as clear errors. */
static Oid
zj_remote_check(const char *dbname, Oid role)
{
	Oid			db = get_database_oid(dbname, false);
	HeapTuple	tup;
	bool		allowed;

	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(db));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for database %u", db);
	allowed = ((Form_pg_database) GETSTRUCT(tup))->datallowconn;
	ReleaseSysCache(tup);
	if (!allowed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("database \"%s\" is not currently accepting connections", dbname)));
	if (!superuser_arg(role) &&
		pg_database_aclcheck(db, role, ACL_CONNECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("User %s does not have CONNECT privilege on %s",
						GetUserNameFromId(role, false), dbname)));
	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(role));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for role %u", role);
	allowed = ((Form_pg_authid) GETSTRUCT(tup))->rolcanlogin;
	ReleaseSysCache(tup);
	if (!allowed)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("role \"%s\" can not log in", GetUserNameFromId(role, false)),
				 errdetail("Jobs may only be run by roles that have the LOGIN attribute.")));
	return db;
}

static BackgroundWorkerHandle *
zj_remote_start(dsm_segment *seg, const char *dbname)
{
	BackgroundWorker w;
	BackgroundWorkerHandle *handle;

	zj_bgworker_describe(&w, "zj_remote_main", "zapjobs remote job", "zapjobs remote job");
	w.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	w.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&w, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("no background worker slot to run the job in database \"%s\"", dbname),
				 errhint("Raise max_worker_processes: a job in another database needs one more process while it runs.")));
	return handle;
}

/* On an error or exit while waiting: the worker must not run on alone. */
static void
zj_remote_abandon(int code, Datum arg)
{
	(void) TerminateBackgroundWorker((BackgroundWorkerHandle *) DatumGetPointer(arg));
}

/* Raise what the worker met, or say that it never finished. */
static void
zj_remote_report(ZjRemote *r, const char *dbname)
{
	pg_read_barrier();
	if (r->status == ZJ_REMOTE_DONE)
		return;
	if (r->status == ZJ_REMOTE_FAILED)
		ereport(ERROR,
				(errcode(r->sqlerrcode),
				 errmsg("%s", r->message),
				 r->detail[0] ? errdetail("%s", r->detail) : 0,
				 r->hint[0] ? errhint("%s", r->hint) : 0,
				 errcontext("job command in database \"%s\"", dbname)));
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("the job's session in database \"%s\" ended without finishing", dbname),
			 errhint("The server log says why (a refused connection, or a terminated process).")));
}

/*
 * cron._run_in_database(database text, command text): execute command in
 * database as the current role, wait for it, raise its error if it fails.
 */
Datum
zj_remote_run(PG_FUNCTION_ARGS)
{
	char	   *dbname;
	char	   *command;
	Size		len;
	dsm_segment *seg;
	ZjRemote   *r;
	BackgroundWorkerHandle *handle;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("database and command must not be NULL")));
	dbname = text_to_cstring(PG_GETARG_TEXT_PP(0));
	command = text_to_cstring(PG_GETARG_TEXT_PP(1));
	len = strlen(command) + 1;

	seg = dsm_create(offsetof(ZjRemote, command) + len, 0);
	r = (ZjRemote *) dsm_segment_address(seg);
	memset(r, 0, offsetof(ZjRemote, command));
	r->role = GetUserId();
	r->database = zj_remote_check(dbname, r->role);
	memcpy(r->command, command, len);

	handle = zj_remote_start(seg, dbname);
	PG_ENSURE_ERROR_CLEANUP(zj_remote_abandon, PointerGetDatum(handle));
	{
		/* Checks for interrupts: a cancel or timeout ends the wait. */
		(void) WaitForBackgroundWorkerShutdown(handle);
	}
	PG_END_ENSURE_ERROR_CLEANUP(zj_remote_abandon, PointerGetDatum(handle));

	zj_remote_report(r, dbname);
	dsm_detach(seg);
	PG_RETURN_VOID();
}

/* Keep an error's text for the caller, cut to the segment's room. */
static void
zj_remote_keep_error(ZjRemote *r)
{
	ErrorData  *e = CopyErrorData();

	r->sqlerrcode = e->sqlerrcode;
	strlcpy(r->message, e->message ? e->message : "", ZJ_REMOTE_TEXT);
	strlcpy(r->detail, e->detail ? e->detail : "", ZJ_REMOTE_TEXT);
	strlcpy(r->hint, e->hint ? e->hint : "", ZJ_REMOTE_TEXT);
	pg_write_barrier();
	r->status = ZJ_REMOTE_FAILED;
}

/* The worker: connect as the role, execute, leave the outcome. */
void
zj_remote_main(Datum arg)
{
	dsm_segment *seg;
	ZjRemote   *r;
	MemoryContext cxt;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "zapjobs remote job");
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		proc_exit(0);			/* the caller is gone already */
	dsm_pin_mapping(seg);
	r = (ZjRemote *) dsm_segment_address(seg);

	BackgroundWorkerInitializeConnectionByOid(r->database, r->role, 0);
	pgstat_report_appname("zapjobs remote job");
	cxt = AllocSetContextCreate(TopMemoryContext, "zapjobs remote job",
								ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		pgstat_report_activity(STATE_RUNNING, r->command);
		zj_sqlexec_execute(r->command, cxt);
		CommitTransactionCommand();
		pg_write_barrier();
		r->status = ZJ_REMOTE_DONE;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		zj_remote_keep_error(r);
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	proc_exit(0);
}
