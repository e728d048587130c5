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
 *	  cancellation or timeout terminates the worker and waits for it to end
 *	  (a command that committed there just before stays committed); the
 *	  caller's exit terminates it.
 *
 *	  Who may: the worker's connection bypasses pg_hba.conf and takes a
 *	  max_worker_processes slot, so only jobs that pg_cron's rules let run
 *	  elsewhere do.  cron._authorize_remote records such a job (superusers,
 *	  or roles granted schedule_in_database or alter_job, as in pg_cron);
 *	  cron._run_in_database runs only the recorded command of the run it
 *	  is executed by, as that job's owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
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
#include "query.h"
#include "runctx.h"
#include "sqlexec.h"

PG_FUNCTION_INFO_V1(zj_remote_run);
PG_FUNCTION_INFO_V1(zj_remote_authorize);
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

	int			encoding;

	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(db));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for database %u", db);
	allowed = ((Form_pg_database) GETSTRUCT(tup))->datallowconn;
	encoding = ((Form_pg_database) GETSTRUCT(tup))->encoding;
	ReleaseSysCache(tup);
	if (!allowed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("database \"%s\" is not currently accepting connections", dbname)));
	/* The command and the error travel as bytes: no conversion. */
	if (encoding != GetDatabaseEncoding())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("database \"%s\" has encoding %s, this one %s", dbname,
						pg_encoding_to_char(encoding), GetDatabaseEncodingName()),
				 errhint("Schedule the job from a database with the same encoding.")));
	if (!superuser_arg(role) &&
		pg_database_aclcheck(db, role, ACL_CONNECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for database \"%s\"", dbname),
				 errdetail("Role \"%s\" does not have CONNECT privilege.",
						   GetUserNameFromId(role, false))));
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

/*
 * On an error while waiting (a cancel, a timeout) the worker is stopped and
 * waited for, so the run ends after the command there; on the caller's
 * exit it is only told to stop.
 */
static void
zj_remote_abandon(int code, Datum arg)
{
	BackgroundWorkerHandle *handle = (BackgroundWorkerHandle *) DatumGetPointer(arg);

	(void) TerminateBackgroundWorker(handle);
	if (proc_exit_inprogress)
		return;
	HOLD_INTERRUPTS();
	(void) WaitForBackgroundWorkerShutdown(handle);
	RESUME_INTERRUPTS();
}

/* Raise what the worker met, or say that it never finished. */
static void
zj_remote_report(ZjRemote *r, const char *dbname)
{
	ZjRemoteStatus status = r->status;

	pg_read_barrier();			/* the texts after the status */
	if (status == ZJ_REMOTE_DONE)
		return;
	if (status == ZJ_REMOTE_FAILED)
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

/* pg_cron's rule for jobs elsewhere: a superuser, or a role granted either. */
static bool
zj_remote_may_schedule(Oid role)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(role)};
	bool		isnull;
	bool		ok;

	if (superuser_arg(role))
		return true;
	zj_query_begin();
	if (SPI_execute_with_args("SELECT pg_catalog.has_function_privilege($1,"
							  " 'cron.schedule_in_database(text,text,text,text,text,boolean)', 'EXECUTE')"
							  " OR pg_catalog.has_function_privilege($1,"
							  " 'cron.alter_job(bigint,text,text,text,text,boolean)', 'EXECUTE')",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the privileges of role %u", role);
	ok = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	zj_query_end();
	return ok;
}

static const char *zj_remote_record =
"INSERT INTO cron._remote AS t (name, owner, database, command)"
" VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE"
" SET owner = excluded.owner, database = excluded.database, command = excluded.command";
static const char *zj_remote_forget_own =
"DELETE FROM cron._remote t WHERE t.name = $1 AND t.owner = $2";
static const char *zj_remote_forget_any =
"DELETE FROM cron._remote t WHERE t.name = $1";

/*
 * cron._authorize_remote(name, database, command, owner): job name, owned
 * by owner, may run command in database (or, database being this one, no
 * longer runs anything elsewhere).  Written as zapjobs: nobody else may.
 */
Datum
zj_remote_authorize(PG_FUNCTION_ARGS)
{
	Oid			caller = GetUserId();
	Oid			types[4] = {TEXTOID, OIDOID, TEXTOID, TEXTOID};
	Datum		values[4];
	bool		here;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("name, database, command and owner must not be NULL")));
	if (PG_GETARG_OID(3) != caller && !superuser_arg(caller))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be superuser to create a job for another role")));
	here = strcmp(text_to_cstring(PG_GETARG_TEXT_PP(1)), get_database_name(MyDatabaseId)) == 0;
	if (!here && !zj_remote_may_schedule(caller))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to run jobs in another database"),
				 errhint("A superuser may GRANT EXECUTE ON FUNCTION cron.schedule_in_database or cron.alter_job, as in pg_cron.")));
	values[0] = PG_GETARG_DATUM(0);
	values[1] = PG_GETARG_DATUM(3);
	values[2] = PG_GETARG_DATUM(1);
	values[3] = PG_GETARG_DATUM(2);
	zj_query_begin();
	if (SPI_execute_with_args(!here ? zj_remote_record :
							  superuser_arg(caller) ? zj_remote_forget_any : zj_remote_forget_own,
							  4, types, values, NULL, false, 0) < 0)
		elog(ERROR, "could not record the job's database");
	zj_query_end();
	PG_RETURN_VOID();
}

/* Is this call the recorded command of the run executing it, as its owner? */
static void
zj_remote_check_job(text *dbname, text *command)
{
	Oid			types[4] = {TEXTOID, OIDOID, TEXTOID, TEXTOID};
	Datum		values[4];
	bool		ok = false;

	if (zj_runctx_run != NULL && zj_runctx_run->name != NULL)
	{
		values[0] = CStringGetTextDatum(zj_runctx_run->name);
		values[1] = ObjectIdGetDatum(GetUserId());
		values[2] = PointerGetDatum(dbname);
		values[3] = PointerGetDatum(command);
		zj_query_begin();
		ok = SPI_execute_with_args("SELECT FROM cron._remote t WHERE t.name = $1"
								   " AND t.owner = $2 AND t.database = $3 AND t.command = $4",
								   4, types, values, NULL, true, 1) == SPI_OK_SELECT &&
			SPI_processed == 1;
		zj_query_end();
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to run a command in another database"),
				 errdetail("cron._run_in_database runs only the command of a job made by cron.schedule_in_database or cron.alter_job, in that job's run, as its owner.")));
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
	zj_remote_check_job(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1));
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

/* Cut to the segment's room on a character boundary. */
static void
zj_remote_keep_text(char *dst, const char *src)
{
	int			len = src ? pg_mbcliplen(src, strlen(src), ZJ_REMOTE_TEXT - 1) : 0;

	memcpy(dst, src ? src : "", len);
	dst[len] = '\0';
}

/* Keep an error's text for the caller. */
static void
zj_remote_keep_error(ZjRemote *r)
{
	ErrorData  *e = CopyErrorData();

	r->sqlerrcode = e->sqlerrcode;
	zj_remote_keep_text(r->message, e->message);
	zj_remote_keep_text(r->detail, e->detail);
	zj_remote_keep_text(r->hint, e->hint);
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
