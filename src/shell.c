/*-------------------------------------------------------------------------
 *
 * shell.c
 *	  Shell jobs: `/bin/sh -c command` in a child of the worker, in a
 *	  process group of its own (procgroup.c), so that nothing of it
 *	  outlives the run:
 *	    - the run ending in any way kills what is left of the group;
 *	    - a timeout or cancel sends SIGTERM, then SIGKILL after
 *	      zapjobs.shell_kill_grace;
 *	    - the worker exiting (FATAL, shutdown) kills the group on its way
 *	      out; the worker killed outright takes sh down (PR_SET_PDEATHSIG)
 *	      and the reaper kills the rest by the group id kept in jobs.runs.
 *	  Shell jobs run as the server's operating-system user: only
 *	  superusers and members of pg_execute_server_program may enqueue them,
 *	  and membership is checked again when the run starts (roles.c).  The
 *	  child gets a minimal environment; its output is read by
 *	  shell_output.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timeout.h"

#include "attempt.h"
#include "procgroup.h"
#include "query.h"
#include "roles.h"
#include "runctx.h"
#include "runstate.h"
#include "shell.h"
#include "shell_output.h"

/* NAME=value, allocated in the current context. */
static char *
zj_shell_env(const char *name, const char *value)
{
	return psprintf("%s=%s", name, value ? value : "");
}

/* The child's environment: a minimal, explicit one. */
static char **
zj_shell_environment(ZjRun *run)
{
	char	  **envp = palloc0(sizeof(char *) * 8);
	int			n = 0;

	envp[n++] = zj_shell_env("PATH", "/usr/local/bin:/usr/bin:/bin");
	if (getenv("HOME"))
		envp[n++] = zj_shell_env("HOME", getenv("HOME"));
	if (getenv("LANG"))
		envp[n++] = zj_shell_env("LANG", getenv("LANG"));
	envp[n++] = psprintf("ZAPJOBS_RUN_ID=" INT64_FORMAT, run->id);
	envp[n++] = psprintf("ZAPJOBS_ATTEMPT=%d", run->attempt);
	envp[n++] = zj_shell_env("ZAPJOBS_INPUT",
							 run->input ? JsonbToCString(NULL, &run->input->root,
														 VARSIZE(run->input)) : "");
	return envp;
}

/*
 * Execute a shell run to its completion (recorded here) or raise its
 * failure.  The child runs outside any transaction: a pg_dump of an hour
 * must not hold one open.  Its process group is committed to jobs.runs
 * first, for the reaper.
 */
void
zj_shell_execute(ZjRun *run)
{
	int			out;
	int			err;
	pid_t		pid;

	zj_query_xact_begin();
	zj_roles_check_shell(zj_runctx_role(), true);
	pid = zj_procgroup_spawn(run->command, zj_shell_environment(run),
							 zj_shell_directory, &out, &err);
	PG_TRY();
	{
		zj_runstate_set_shell_pgid(run, pid);
		CommitTransactionCommand();
		MemoryContextSwitchTo(zj_runctx_cxt);
		enable_timeout_after(STATEMENT_TIMEOUT, zj_attempt_timeout_ms(run));
		zj_shell_output_supervise(run, pid, out, err);
		disable_timeout(STATEMENT_TIMEOUT, false);
	}
	PG_CATCH();
	{
		/*
		 * Cancel, timeout, or our own error: the group goes first, given
		 * zapjobs.shell_kill_grace; the watchdog must not cut that short.
		 */
		zj_attempt_unwatch();
		zj_procgroup_stop(pid, true);
		close(out);
		close(err);
		PG_RE_THROW();
	}
	PG_END_TRY();
	close(out);
	close(err);

	zj_query_xact_begin();
	zj_attempt_complete(run);
	CommitTransactionCommand();
	zj_runctx_count(true);
}
