/*-------------------------------------------------------------------------
 *
 * bgworker.c
 *	  What every zapjobs background worker has in common: a database
 *	  connection, started once recovery has finished, its entry point in
 *	  this library.  The launcher (launcher.c) and the pool (pool.c) add
 *	  what is theirs: restart policy, argument, who is notified.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "bgworker.h"

void
zj_bgworker_describe(BackgroundWorker *w, const char *function,
					 const char *name, const char *type)
{
	memset(w, 0, sizeof(*w));
	w->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w->bgw_start_time = BgWorkerStart_RecoveryFinished;
	w->bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(w->bgw_library_name, BGW_MAXLEN, ZJ_EXTENSION_NAME);
	snprintf(w->bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(w->bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(w->bgw_type, BGW_MAXLEN, "%s", type);
}
