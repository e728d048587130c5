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
 *	    - DROP DATABASE: first our processes connected to it leave, so
 *	      that nothing of ours keeps it busy.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"

#include "shmem.h"
#include "utility.h"

static ProcessUtility_hook_type zj_prev_utility_hook = NULL;

static bool zj_utility_registered = false;
static bool zj_utility_extension_changed = false;
static bool zj_utility_extension_dropped = false;
static bool zj_utility_databases_changed = false;
static Oid	zj_utility_dropped = InvalidOid;	/* DROP DATABASE under way */

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
		/* Committed, the database is gone; else its launcher may return. */
		if (OidIsValid(zj_utility_dropped))
			zj_shmem_stop_database(zj_utility_dropped, false);
		zj_utility_dropped = InvalidOid;
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

/* Does a DROP statement drop the zapjobs extension? */
static bool
zj_utility_drops_us(DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
		if (strcmp(strVal(lfirst(lc)), ZJ_EXTENSION_NAME) == 0)
			return true;
	return false;
}

/* Note what the statement changes for us, before it runs. */
static void
zj_utility_inspect(Node *tree)
{
	switch (nodeTag(tree))
	{
		case T_CreateExtensionStmt:
			if (strcmp(((CreateExtensionStmt *) tree)->extname, ZJ_EXTENSION_NAME) == 0)
				zj_utility_note(true);
			break;
		case T_AlterExtensionStmt:
			if (strcmp(((AlterExtensionStmt *) tree)->extname, ZJ_EXTENSION_NAME) == 0)
				zj_utility_note(true);
			break;
		case T_DropStmt:
			if (zj_utility_drops_us((DropStmt *) tree) &&
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
	if (IsA(tree, DropdbStmt))
	{
		/* It waits up to 5 s for other sessions: ours leave now. */
		zj_utility_dropped = get_database_oid(((DropdbStmt *) tree)->dbname, true);
		if (OidIsValid(zj_utility_dropped))
		{
			zj_utility_note(false);
			zj_shmem_stop_database(zj_utility_dropped, true);
		}
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
