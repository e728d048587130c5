/*-------------------------------------------------------------------------
 *
 * utility.c
 *	  The statements that change which databases zapjobs serves, seen in
 *	  every backend (a ProcessUtility hook):
 *	    - CREATE or ALTER EXTENSION zapjobs: at commit the supervisor starts
 *	      this database's launcher, or its launcher looks again, so runs
 *	      start within a second with no restart;
 *	    - DROP EXTENSION zapjobs: at commit our workers there leave (the runs
 *	      they execute are gone), and the launcher sees it and leaves too;
 *	    - CREATE, ALTER or RENAME DATABASE: at commit the supervisor reads
 *	      pg_database again (a copy of a database with the extension is
 *	      served at once, one that now refuses connections is left);
 *	    - DROP DATABASE, ALTER DATABASE RENAME or SET TABLESPACE, CREATE
 *	      DATABASE with it as the template: these need the database to
 *	      themselves, so first our processes connected to it leave (a job
 *	      running there is interrupted) and none comes back before the
 *	      statement ends.  Only for a user the statement will accept: one
 *	      who may not run it must not interrupt anybody's jobs;
 *	    - DROP EXTENSION zapjobs_cron: its jobs (definitions of zapjobs, not
 *	      objects of the extension) go with it, as pg_cron's cron.job does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"

#include "shmem.h"
#include "utility.h"

static ProcessUtility_hook_type zj_prev_utility_hook = NULL;

static bool zj_utility_registered = false;
static bool zj_utility_extension_changed = false;
static bool zj_utility_extension_dropped = false;
static bool zj_utility_databases_changed = false;
static Oid	zj_utility_held = InvalidOid;	/* a database we left for the
												 * statement */

static void
zj_utility_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT)
	{
		if (zj_utility_extension_dropped)
			zj_shmem_extension_dropped();
		else if (zj_utility_extension_changed)
			zj_shmem_extension_changed();
		if (zj_utility_databases_changed)
			zj_shmem_request_rescan();
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		/* A dropped database is gone; else its launcher may come back. */
		if (OidIsValid(zj_utility_held))
			zj_shmem_stop_database(zj_utility_held, false);
		zj_utility_held = InvalidOid;
		zj_utility_extension_changed = zj_utility_databases_changed = false;
		zj_utility_extension_dropped = false;
	}
}

static void
zj_utility_note(bool extension)
{
	/* zapjobs.database may leave this one out (read now: not at commit). */
	if (extension && !zj_shmem_serves_my_database())
		return;
	if (!zj_utility_registered)
	{
		RegisterXactCallback(zj_utility_xact_callback, NULL);
		zj_utility_registered = true;
	}
	if (extension)
		zj_utility_extension_changed = true;
	else
		zj_utility_databases_changed = true;
}

/* Does a DROP statement drop extension name? */
static bool
zj_utility_drops(DropStmt *stmt, const char *name)
{
	ListCell   *lc;

	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
		if (strcmp(strVal(lfirst(lc)), name) == 0)
			return true;
	return false;
}

/*
 * Before DROP EXTENSION zapjobs_cron: delete its jobs, as the user who
 * drops it (a refused DROP rolls the delete back with it).  Not when
 * zapjobs goes too: jobs.definitions goes with it.
 */
static void
zj_utility_drop_cron_jobs(DropStmt *stmt)
{
	if (!zj_utility_drops(stmt, "zapjobs_cron") ||
		zj_utility_drops(stmt, ZJ_EXTENSION_NAME) ||
		!OidIsValid(get_extension_oid("zapjobs_cron", true)))
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("DELETE FROM jobs.definitions d"
					" WHERE cron._jobid(d.name) IS NOT NULL", false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete the jobs of zapjobs_cron");
	SPI_finish();
}

static DefElem *
zj_utility_option(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
		if (strcmp(((DefElem *) lfirst(lc))->defname, name) == 0)
			return (DefElem *) lfirst(lc);
	return NULL;
}

/* The database a statement needs to itself (see the file comment), or NULL. */
static const char *
zj_utility_alone_name(Node *tree)
{
	DefElem    *opt;

	switch (nodeTag(tree))
	{
		case T_DropdbStmt:
			return ((DropdbStmt *) tree)->dbname;
		case T_RenameStmt:
			return ((RenameStmt *) tree)->renameType == OBJECT_DATABASE ?
				((RenameStmt *) tree)->subname : NULL;
		case T_AlterDatabaseStmt:
			return zj_utility_option(((AlterDatabaseStmt *) tree)->options, "tablespace") ?
				((AlterDatabaseStmt *) tree)->dbname : NULL;
		case T_CreatedbStmt:
			opt = zj_utility_option(((CreatedbStmt *) tree)->options, "template");
			return opt != NULL && opt->arg != NULL && have_createdb_privilege() ?
				defGetString(opt) : NULL;
		default:
			return NULL;
	}
}

/*
 * That database's oid, if the statement will get past its own checks as
 * far as we can tell: at top level, outside a transaction block, run by
 * the database's owner (a served database is no template, so copying it
 * takes ownership too), not on the database we are in.
 */
static Oid
zj_utility_needs_alone(Node *tree, ProcessUtilityContext context)
{
	const char *name;
	Oid			db;

	if (context != PROCESS_UTILITY_TOPLEVEL || IsTransactionBlock())
		return InvalidOid;
	name = zj_utility_alone_name(tree);
	if (name == NULL)
		return InvalidOid;
	db = get_database_oid(name, true);
	if (!OidIsValid(db) || db == MyDatabaseId ||
		!zj_database_ownercheck(db, GetUserId()))
		return InvalidOid;
	return db;
}

/* Note what the statement changes for us, before it runs. */
static void
zj_utility_inspect(Node *tree)
{
	switch (nodeTag(tree))
	{
		case T_CreateExtensionStmt:
			/* With CASCADE, another extension may bring us in. */
			if (strcmp(((CreateExtensionStmt *) tree)->extname, ZJ_EXTENSION_NAME) == 0 ||
				zj_utility_option(((CreateExtensionStmt *) tree)->options, "cascade") != NULL)
				zj_utility_note(true);
			break;
		case T_AlterExtensionStmt:
			if (strcmp(((AlterExtensionStmt *) tree)->extname, ZJ_EXTENSION_NAME) == 0)
				zj_utility_note(true);
			break;
		case T_DropStmt:
			zj_utility_drop_cron_jobs((DropStmt *) tree);
			if (zj_utility_drops((DropStmt *) tree, ZJ_EXTENSION_NAME) &&
				zj_shmem_serves_my_database())
			{
				zj_utility_note(true);
				zj_utility_extension_dropped = true;
			}
			break;
		case T_CreatedbStmt:
		case T_AlterDatabaseStmt:
			zj_utility_note(false);
			break;
		case T_RenameStmt:
			if (((RenameStmt *) tree)->renameType == OBJECT_DATABASE)
				zj_utility_note(false);
			break;
		default:
			break;
	}
}

static void
zj_utility_run(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			   ProcessUtilityContext context, ParamListInfo params,
			   QueryEnvironment *queryEnv, DestReceiver *dest,
			   QueryCompletion *qc)
{
	if (zj_prev_utility_hook)
		zj_prev_utility_hook(pstmt, queryString, readOnlyTree, context, params,
							 queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

static void
zj_utility_hook(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				ProcessUtilityContext context, ParamListInfo params,
				QueryEnvironment *queryEnv, DestReceiver *dest,
				QueryCompletion *qc)
{
	Node	   *tree = pstmt->utilityStmt;

	zj_utility_inspect(tree);
	/* It waits up to 5 s for other sessions: ours leave now. */
	zj_utility_held = zj_utility_needs_alone(tree, context);
	if (OidIsValid(zj_utility_held))
	{
		zj_utility_note(false);
		zj_shmem_stop_database(zj_utility_held, true);
	}
	zj_utility_run(pstmt, queryString, readOnlyTree, context, params,
				   queryEnv, dest, qc);
}

void
zj_utility_install_hook(void)
{
	zj_prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = zj_utility_hook;
}
