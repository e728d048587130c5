/*-------------------------------------------------------------------------
 *
 * init.c
 *	  Library entry point: defines the GUCs, installs the shared-memory
 *	  and utility hooks and registers the supervisor.  Loaded without
 *	  shared_preload_libraries, only the GUCs exist and jobs.enqueue warns
 *	  that nothing will run its jobs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "cron.h"
#include "failure.h"
#include "query.h"
#include "shmem.h"
#include "supervisor.h"
#include "utility.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

char	   *zj_database = NULL;
int			zj_max_workers = 4;
int			zj_max_databases = 8;
int			zj_poll_interval_ms = 1000;
int			zj_default_timeout_s = 3600;
int			zj_default_max_attempts = 1;
char	   *zj_channel = NULL;
int			zj_max_output_bytes = 65536;
int			zj_worker_idle_timeout_ms = 600000;
int			zj_batch_time_ms = 5;
int			zj_vacuum_threshold = 5000;
int			zj_keep_completed_s = 86400;
int			zj_keep_failed_s = 7 * 86400;
int			zj_retry_base_ms = 1000;
double		zj_retry_factor = 2.0;
int			zj_retry_max_delay_ms = 3600 * 1000;
char	   *zj_non_retryable_sqlstates = NULL;
int			zj_max_crashes = 2;
int			zj_kill_grace_ms = 500;
int			zj_max_log_lines = 1000;
char	   *zj_timezone = NULL;
bool		zj_shell_enabled = true;
char	   *zj_shell_directory = NULL;
int			zj_shell_kill_grace_ms = 2000;
int			zj_event_detail = ZJ_DETAIL_FULL;

static const struct config_enum_entry zj_event_detail_options[] = {
	{"full", ZJ_DETAIL_FULL, false},
	{"minimal", ZJ_DETAIL_MINIMAL, false},
	{NULL, 0, false}
};
bool		zj_preloaded = false;

/* pg_cron's settings, read by zapjobs_cron's SQL (current_setting). */
static char *zj_cron_tz_setting = NULL;
static bool zj_cron_log_run = true;
static int	zj_cron_max_running_jobs = 32;

/* NOTIFY refuses empty and over-long channel names: refuse them here. */
static bool
zj_init_check_channel(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' ||
		strlen(*newval) >= NAMEDATALEN)
	{
		GUC_check_errdetail("The channel name must have 1 to %d bytes.",
							NAMEDATALEN - 1);
		return false;
	}
	return true;
}

static void
zj_init_define_retry_gucs(void)
{
	DefineCustomIntVariable("zapjobs.retry_base",
							"Delay before the second attempt of a run "
							"enqueued without retry_base.",
							NULL, &zj_retry_base_ms, 1000, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomRealVariable("zapjobs.retry_factor",
							 "Factor by which the delay grows with each "
							 "further attempt.",
							 NULL, &zj_retry_factor, 2.0, 1.0, 100.0,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("zapjobs.retry_max_delay",
							"Longest delay between two attempts of a run "
							"enqueued without retry_max_delay.",
							NULL, &zj_retry_max_delay_ms, 3600 * 1000, 0,
							INT_MAX, PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("zapjobs.non_retryable_sqlstates",
							   "Errors that fail a run at once, whatever "
							   "attempts it has left: SQLSTATEs, or classes "
							   "of two characters.",
							   "Retrying cannot fix a syntax error, a missing "
							   "object or a missing privilege (class 42).",
							   &zj_non_retryable_sqlstates,
							   "42, 0A000, 3D000, 3F000", PGC_SUSET, 0,
							   zj_failure_check_sqlstates, NULL, NULL);
	DefineCustomIntVariable("zapjobs.max_crashes",
							"Server crashes interrupting one run after which "
							"it fails without further attempts.",
							"A job that crashes the server must not crash it "
							"over and over.",
							&zj_max_crashes, 2, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("zapjobs.kill_grace",
							"How long a job may ignore its timeout or "
							"cancellation before its worker is terminated.",
							NULL, &zj_kill_grace_ms, 500, 0, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
}

static void
zj_init_define_retention_gucs(void)
{
	DefineCustomIntVariable("zapjobs.keep_completed",
							"How long completed and cancelled runs are kept "
							"(with their logs and attempts); 0 keeps them "
							"forever.",
							"A queue or a job definition may set its own.",
							&zj_keep_completed_s, 86400, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("zapjobs.keep_failed",
							"How long failed runs are kept (with their logs "
							"and attempts); 0 keeps them forever.",
							"A queue or a job definition may set its own.",
							&zj_keep_failed_s, 7 * 86400, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
}

static void
zj_init_define_shell_gucs(void)
{
	DefineCustomBoolVariable("zapjobs.shell_enabled",
							 "Whether shell jobs may be enqueued and run.",
							 "Shell jobs run as the server's operating-system "
							 "user.",
							 &zj_shell_enabled, true, PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("zapjobs.shell_directory",
							   "Working directory of shell jobs.",
							   NULL, &zj_shell_directory, "/tmp",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("zapjobs.shell_kill_grace",
							"Time between SIGTERM and SIGKILL when a shell "
							"job is stopped (timeout, cancel).",
							NULL, &zj_shell_kill_grace_ms, 2000, 0, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
}

static void
zj_init_define_runtime_gucs(void)
{
	DefineCustomIntVariable("zapjobs.poll_interval",
							"Longest time an idle worker or the launcher sleeps "
							"before looking for work anyway.",
							"Commits that enqueue runs wake workers at once; "
							"this poll is only a safety net.",
							&zj_poll_interval_ms, 1000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("zapjobs.default_timeout",
							"Timeout of a run enqueued without one.",
							NULL, &zj_default_timeout_s, 3600, 1,
							INT_MAX / 1000, PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("zapjobs.default_max_attempts",
							"Attempts of a run enqueued without max_attempts.",
							NULL, &zj_default_max_attempts, 3, 1, 1000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	zj_init_define_retry_gucs();
	zj_init_define_shell_gucs();
	zj_init_define_retention_gucs();
	DefineCustomStringVariable("zapjobs.timezone",
							   "Time zone of cron schedules created without one.",
							   NULL, &zj_timezone, "UTC",
							   PGC_SUSET, 0, zj_cron_check_timezone, NULL, NULL);
	DefineCustomIntVariable("zapjobs.max_log_lines",
							"Log lines kept per attempt of a run; further "
							"lines are counted in a last line.",
							NULL, &zj_max_log_lines, 1000, 0, INT_MAX,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("zapjobs.event_detail",
							 "How much job_update events reveal: 'full' adds "
							 "the messages jobs report (progress, log lines, "
							 "error codes), 'minimal' only ids, states and "
							 "numbers.",
							 "Any role may LISTEN: row-level security does "
							 "not apply to notifications.",
							 &zj_event_detail, ZJ_DETAIL_FULL,
							 zj_event_detail_options, PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("zapjobs.channel",
							   "Channel on which run state changes are "
							   "published with NOTIFY.",
							   NULL, &zj_channel, "job_update",
							   PGC_SIGHUP, 0, zj_init_check_channel, NULL, NULL);
	DefineCustomIntVariable("zapjobs.worker_idle_timeout",
							"Time after which a worker without work exits, "
							"giving back its connection; 0 keeps it.",
							NULL, &zj_worker_idle_timeout_ms, 600000, 0,
							INT_MAX, PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("zapjobs.batch_time",
							"How long a worker keeps running further short "
							"runs in one transaction; 0 runs every run in "
							"a transaction of its own.",
							NULL, &zj_batch_time_ms, 5, 0, 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("zapjobs.vacuum_threshold",
							"Runs finished after which the launcher vacuums "
							"jobs.runs (at most once a second); 0 leaves it "
							"to autovacuum.",
							"A busy queue leaves dead index entries ahead of "
							"the next pending run that every claim must step "
							"over until a vacuum removes them.",
							&zj_vacuum_threshold, 5000, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("zapjobs.max_output_size",
							"Largest jsonb output kept for a run; larger "
							"outputs are replaced by a note of their size.",
							NULL, &zj_max_output_bytes, 65536, 256,
							64 * 1024 * 1024, PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
}

static void
zj_init_define_postmaster_gucs(void)
{
	DefineCustomStringVariable("zapjobs.database",
							   "The only database whose jobs run; empty: "
							   "every database with the extension.",
							   NULL, &zj_database, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("zapjobs.max_workers",
							"Number of worker processes running jobs, in "
							"all databases together.",
							NULL, &zj_max_workers, 4, 1, 1024,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("zapjobs.max_databases",
							"Number of databases with the extension that "
							"can be served at once.",
							NULL, &zj_max_databases, 8, 1, 1024,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
}

/* Is pg_cron in shared_preload_libraries?  Then its settings are its own. */
static bool
zj_init_pg_cron_preloaded(void)
{
	char	   *copy = pstrdup(shared_preload_libraries_string);
	List	   *names = NIL;
	ListCell   *lc;

	if (!SplitDirectoriesString(copy, ',', &names))
		return false;
	foreach(lc, names)
	{
		const char *name = (const char *) lfirst(lc);
		const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;

		if (strcmp(base, "pg_cron") == 0 || strcmp(base, "pg_cron.so") == 0)
			return true;
	}
	return false;
}

/*
 * pg_cron's settings, with its names and defaults, for zapjobs_cron: a
 * configuration written for pg_cron keeps its meaning.  Reloadable here
 * (pg_cron needs a restart for two of them); only the configuration file
 * or ALTER SYSTEM sets them.
 */
static void
zj_init_define_cron_gucs(void)
{
	if (zj_init_pg_cron_preloaded())
		return;
	DefineCustomStringVariable("cron.timezone",
							   "Time zone of the schedules of zapjobs_cron's jobs.",
							   NULL, &zj_cron_tz_setting, "GMT",
							   PGC_SIGHUP, 0, zj_cron_check_timezone, NULL, NULL);
	DefineCustomBoolVariable("cron.log_run",
							 "Keep the finished runs of zapjobs_cron's jobs "
							 "(off: retention removes them at once).",
							 NULL, &zj_cron_log_run, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("cron.max_running_jobs",
							"Runs of zapjobs_cron's jobs at once in a database "
							"(the concurrency of queue cron).",
							NULL, &zj_cron_max_running_jobs, 32, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	/* Not reserved: a pg_cron configuration has settings we do not use. */
}

void
_PG_init(void)
{
	zj_init_define_runtime_gucs();

	/* Loaded on demand: PGC_POSTMASTER settings cannot be defined now. */
	if (!process_shared_preload_libraries_in_progress)
	{
		MarkGUCPrefixReserved("zapjobs");
		return;
	}

	zj_init_define_postmaster_gucs();
	MarkGUCPrefixReserved("zapjobs");
	zj_init_define_cron_gucs();
	zj_preloaded = true;

	zj_shmem_install_hooks();
	zj_query_install_planner();

	/* pg_upgrade starts the server with our library: stay out of its way. */
	if (!IsBinaryUpgrade)
		zj_supervisor_register();
	zj_utility_install_hook();
}
