/*-------------------------------------------------------------------------
 *
 * api.c
 *	  SQL-callable functions: jobs.enqueue, jobs.wait, and the functions a
 *	  running job calls on itself (jobs.input, jobs.current_run_id,
 *	  jobs.set_output).
 *
 *	  jobs.enqueue validates everything before it writes anything, and
 *	  records the caller (current_user) as the run's owner: the job will
 *	  run in a session of that role.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "output.h"
#include "roles.h"
#include "runctx.h"
#include "runstate.h"
#include "version.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(zj_enqueue);
PG_FUNCTION_INFO_V1(zj_enqueue_many);
PG_FUNCTION_INFO_V1(zj_wait);
PG_FUNCTION_INFO_V1(zj_input);
PG_FUNCTION_INFO_V1(zj_current_run_id);
PG_FUNCTION_INFO_V1(zj_set_output);

#define ZJ_MAX_TIMEOUT_MS ((int64) PG_INT32_MAX)
#define ZJ_ENQUEUE_MANY_MAX 1000000	/* runs per jobs.enqueue_many call */

static const char *
zj_api_name_arg(FunctionCallInfo fcinfo, int argno, const char *what,
				const char *dflt)
{
	char	   *value;

	if (PG_ARGISNULL(argno))
		return dflt;
	value = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", what),
				 errhint("Pass NULL to use the default.")));
	if (strlen(value) >= ZJ_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("%s \"%s\" is too long", what, value),
				 errdetail("The limit is %d bytes.", ZJ_NAME_MAX - 1)));
	return value;
}

static const char *
zj_api_command_arg(FunctionCallInfo fcinfo)
{
	char	   *command;
	const char *p;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("command must not be NULL")));
	command = text_to_cstring(PG_GETARG_TEXT_PP(0));
	for (p = command; *p && isspace((unsigned char) *p); p++)
		;
	if (*p == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("command must not be empty"),
				 errhint("Pass the SQL the job should execute, for example 'CALL etl.load_day()'.")));
	return command;
}

static const char *
zj_api_kind_arg(FunctionCallInfo fcinfo, int argno)
{
	const char *kind = PG_ARGISNULL(argno) ? "sql" :
		text_to_cstring(PG_GETARG_TEXT_PP(argno));

	if (strcmp(kind, "shell") == 0)
	{
		zj_roles_check_shell(GetUserId(), false);
		return kind;
	}
	if (strcmp(kind, "sql") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown job kind \"%s\"", kind),
				 errhint("The kinds are 'sql' and 'shell'.")));
	return kind;
}

static TimestampTz
zj_api_run_at_arg(FunctionCallInfo fcinfo, int argno)
{
	TimestampTz run_at;

	if (PG_ARGISNULL(argno))
		return GetCurrentTransactionStartTimestamp();
	run_at = PG_GETARG_TIMESTAMPTZ(argno);
	if (TIMESTAMP_NOT_FINITE(run_at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("run_at must be a finite time")));
	return run_at;
}

static int32
zj_api_max_attempts_arg(FunctionCallInfo fcinfo, int argno)
{
	int32		n;

	if (PG_ARGISNULL(argno))
		return zj_default_max_attempts;
	n = PG_GETARG_INT32(argno);
	if (n < 1 || n > 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_attempts must be between 1 and 1000, not %d", n)));
	return n;
}

/* An interval in microseconds (months of 30 days), saturated. */
static double
zj_api_interval_usecs(Interval *iv)
{
	return (double) iv->time +
		((double) iv->month * DAYS_PER_MONTH + iv->day) * USECS_PER_DAY;
}

/*
 * The interval as checked: months are counted as 30 days here, as SQL's
 * extract(epoch) does not (12 months are 365.25 days there), and the
 * workers read it through extract: one with months is stored as the
 * microseconds that were checked.
 */
static Interval *
zj_api_as_checked(Interval *iv, double usecs)
{
	Interval   *result;

	if (iv->month == 0)
		return iv;
	result = palloc0(sizeof(Interval));
	result->time = (int64) usecs;
	return result;
}

static Interval *
zj_api_timeout_arg(FunctionCallInfo fcinfo, int argno)
{
	Interval   *timeout;
	double		usecs;

	if (PG_ARGISNULL(argno))
	{
		timeout = palloc0(sizeof(Interval));
		timeout->time = (int64) zj_default_timeout_s * USECS_PER_SEC;
		return timeout;
	}
	timeout = PG_GETARG_INTERVAL_P(argno);
	usecs = zj_api_interval_usecs(timeout);
	if (usecs <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must be positive")));
	if (usecs / 1000 > ZJ_MAX_TIMEOUT_MS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must be at most 24 days")));
	return zj_api_as_checked(timeout, usecs);
}

/* An interval argument of at least 0 (NULL: dflt_ms) for retries. */
static Interval *
zj_api_delay_arg(FunctionCallInfo fcinfo, int argno, const char *what,
				 int dflt_ms)
{
	Interval   *iv;

	if (PG_ARGISNULL(argno))
	{
		iv = palloc0(sizeof(Interval));
		iv->time = (int64) dflt_ms * 1000;
		return iv;
	}
	iv = PG_GETARG_INTERVAL_P(argno);
	if (zj_api_interval_usecs(iv) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", what)));
	if (zj_api_interval_usecs(iv) > 100.0 * 365 * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at most 100 years", what)));
	return zj_api_as_checked(iv, zj_api_interval_usecs(iv));
}

static double
zj_api_retry_factor_arg(FunctionCallInfo fcinfo, int argno)
{
	double		factor;

	if (PG_ARGISNULL(argno))
		return zj_retry_factor;
	factor = PG_GETARG_FLOAT8(argno);
	if (!(factor >= 1.0 && factor <= 100.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retry_factor must be between 1 and 100, not %g", factor),
				 errhint("1 retries at a constant delay (retry_base).")));
	return factor;
}

static const char *
zj_api_dedupe_key_arg(FunctionCallInfo fcinfo)
{
	char	   *key;

	if (PG_ARGISNULL(9))
		return NULL;
	key = text_to_cstring(PG_GETARG_TEXT_PP(9));
	if (key[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dedupe_key must not be empty"),
				 errhint("Pass NULL for a run without one.")));
	if (strlen(key) > 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("dedupe_key is too long"),
				 errdetail("The limit is 1024 bytes.")));
	return key;
}

/* The owner must be able to have a session: workers log in as it. */
static void
zj_api_check_owner(Oid owner)
{
	char	   *name;

	switch (zj_roles_check(owner, &name))
	{
		case ZJ_ROLE_OK:
			break;
		case ZJ_ROLE_MISSING:
			elog(ERROR, "cache lookup failed for role %u", owner);
			break;
		case ZJ_ROLE_NOLOGIN:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("role \"%s\" cannot own jobs because it cannot log in", name),
					 errdetail("A job runs in a session of the role that enqueued it."),
					 errhint("Enqueue as a role with LOGIN (SET ROLE to it), or ALTER ROLE %s LOGIN.",
							 quote_identifier(name))));
			break;
		case ZJ_ROLE_NOCONNECT:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("role \"%s\" cannot own jobs because it may not connect to this database",
							name),
					 errhint("GRANT CONNECT ON DATABASE %s TO %s.",
							 quote_identifier(get_database_name(MyDatabaseId)),
							 quote_identifier(name))));
			break;
	}
}

static void
zj_api_warn_if_unserved(void)
{
	if (!zj_preloaded)
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("zapjobs is not loaded at server start, so no worker will run this job"),
				 errhint("Add zapjobs to shared_preload_libraries and restart the server.")));
	else if (!zj_shmem_serves_my_database())
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no zapjobs workers serve database \"%s\", so no worker will run this job",
						get_database_name(MyDatabaseId)),
				 errhint("zapjobs.database is set to \"%s\": workers serve that database only. Leave it empty to serve every database.",
						 zj_database)));
}

/* Where jobs.enqueue and jobs.enqueue_many take their common arguments. */
typedef struct ZjApiArgPositions
{
	int			queue;
	int			priority;
	int			run_at;
	int			max_attempts;
	int			timeout;
	int			name;
	int			kind;
	int			retry_base;
	int			retry_factor;
	int			retry_max_delay;
	int			depends_on;		/* these three from schema 1.2 on */
	int			on_parent_failure;
	int			workflow;
} ZjApiArgPositions;

static const ZjApiArgPositions zj_enqueue_args = {1, 2, 3, 4, 5, 7, 8, 10, 11, 12, 13, 14, 15};
static const ZjApiArgPositions zj_enqueue_many_args = {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};

static int
zj_api_cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y;
}

/* depends_on: the parents, sorted and without repeats; none for NULL or {}. */
static void
zj_api_parents_arg(FunctionCallInfo fcinfo, int argno, ZjNewRun *run)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return;
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("depends_on must be a one-dimensional array of run ids")));
	deconstruct_array(arr, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	if (n > ZJ_ENQUEUE_MANY_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("depends_on has more than %d run ids", ZJ_ENQUEUE_MANY_MAX)));
	run->parents = palloc(Max(n, 1) * sizeof(int64));
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("depends_on must not contain NULL"),
					 errhint("Pass the ids of the runs this run waits for.")));
		run->parents[i] = DatumGetInt64(elems[i]);
	}
	qsort(run->parents, n, sizeof(int64), zj_api_cmp_int64);
	for (i = 0; i < n; i++)
		if (run->nparents == 0 || run->parents[run->nparents - 1] != run->parents[i])
			run->parents[run->nparents++] = run->parents[i];
}

/* on_parent_failure: 'cancel' (the default) or 'run'. */
static bool
zj_api_on_parent_failure_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *value;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return false;
	value = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (strcmp(value, "run") == 0)
		return true;
	if (strcmp(value, "cancel") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("on_parent_failure must be 'cancel' or 'run', not \"%s\"", value),
				 errhint("'cancel' (the default) cancels the run when a parent fails or is cancelled; 'run' runs it anyway.")));
	return false;
}

/* The settings of the new run(s), checked; the owner may own jobs. */
static void
zj_api_new_run(FunctionCallInfo fcinfo, const ZjApiArgPositions *at,
			   ZjNewRun *run)
{
	PreventCommandIfReadOnly("jobs.enqueue()");
	zj_version_check("jobs.enqueue()");
	memset(run, 0, sizeof(*run));
	run->command = zj_api_command_arg(fcinfo);
	run->queue = zj_api_name_arg(fcinfo, at->queue, "queue name", "default");
	run->priority = PG_ARGISNULL(at->priority) ? 0 : PG_GETARG_INT32(at->priority);
	run->run_at = zj_api_run_at_arg(fcinfo, at->run_at);
	run->max_attempts = zj_api_max_attempts_arg(fcinfo, at->max_attempts);
	run->timeout = zj_api_timeout_arg(fcinfo, at->timeout);
	run->name = zj_api_name_arg(fcinfo, at->name, "job name", NULL);
	run->kind = zj_api_kind_arg(fcinfo, at->kind);
	run->retry_base = zj_api_delay_arg(fcinfo, at->retry_base, "retry_base",
									   zj_retry_base_ms);
	run->retry_factor = zj_api_retry_factor_arg(fcinfo, at->retry_factor);
	run->retry_max_delay = zj_api_delay_arg(fcinfo, at->retry_max_delay,
											"retry_max_delay",
											zj_retry_max_delay_ms);
	if (PG_NARGS() > at->workflow)
		run->workflow = zj_api_name_arg(fcinfo, at->workflow, "workflow name", NULL);
	zj_api_parents_arg(fcinfo, at->depends_on, run);
	run->run_on_parent_failure = zj_api_on_parent_failure_arg(fcinfo, at->on_parent_failure);
	if (run->nparents > 0)
		zj_runctx_check_sees_runs("jobs.enqueue() with depends_on");
	run->owner = GetUserId();
	run->search_path = GetConfigOption("search_path", false, false);
	zj_api_check_owner(run->owner);
	zj_api_warn_if_unserved();
}

/*
 * jobs.enqueue(command, queue, priority, run_at, max_attempts, timeout,
 *				input, name, kind, dedupe_key, retry_base, retry_factor,
 *				retry_max_delay) RETURNS bigint
 */
Datum
zj_enqueue(PG_FUNCTION_ARGS)
{
	ZjNewRun	run;

	zj_api_new_run(fcinfo, &zj_enqueue_args, &run);
	run.input = PG_ARGISNULL(6) ? NULL : PG_GETARG_JSONB_P(6);
	run.dedupe_key = zj_api_dedupe_key_arg(fcinfo);
	if (run.dedupe_key != NULL)
		zj_runctx_check_sees_runs("jobs.enqueue() with a dedupe_key");
	PG_RETURN_INT64(zj_runstate_enqueue(&run));
}

/* The inputs of jobs.enqueue_many: a one-dimensional array, maybe empty. */
static ArrayType *
zj_api_inputs_arg(FunctionCallInfo fcinfo)
{
	ArrayType  *inputs;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("inputs must not be NULL"),
				 errhint("Pass one element per run; a NULL element is a run without input.")));
	inputs = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(inputs) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("inputs must be a one-dimensional array"),
				 errhint("Pass one element per run.")));
	/* Each run's event is kept in memory until commit: bound them. */
	if (ArrayGetNItems(ARR_NDIM(inputs), ARR_DIMS(inputs)) > ZJ_ENQUEUE_MANY_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("inputs has more than %d elements", ZJ_ENQUEUE_MANY_MAX),
				 errhint("Call jobs.enqueue_many several times.")));
	return inputs;
}

/*
 * jobs.enqueue_many(command, inputs, queue, priority, run_at,
 *					 max_attempts, timeout, name, kind, retry_base,
 *					 retry_factor, retry_max_delay) RETURNS bigint[]
 *
 * One run per element of inputs, all otherwise alike, with one INSERT:
 * the set-based way to enqueue thousands.  Returns their ids in the order
 * of inputs.
 */
Datum
zj_enqueue_many(PG_FUNCTION_ARGS)
{
	ZjNewRun	run;
	ArrayType  *inputs;

	zj_api_new_run(fcinfo, &zj_enqueue_many_args, &run);
	inputs = zj_api_inputs_arg(fcinfo);
	PG_RETURN_ARRAYTYPE_P(zj_runstate_enqueue_many(&run, inputs));
}

/* A run's status as the caller sees it (row-level security applies). */
static char *
zj_api_visible_status(int64 run_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	char	   *status = NULL;
	bool		inserted_by_me = false;
	MemoryContext caller_cxt = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT status, xmin FROM jobs.runs"
							  " WHERE id OPERATOR(pg_catalog.=) $1",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read run status");
	if (SPI_processed == 1)
	{
		bool		isnull;
		TransactionId xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0],
																 SPI_tuptable->tupdesc,
																 2, &isnull));

		status = MemoryContextStrdup(caller_cxt,
									 SPI_getvalue(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1));
		inserted_by_me = TransactionIdIsCurrentTransactionId(xmin);
	}
	SPI_finish();
	if (inserted_by_me)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run " INT64_FORMAT " was enqueued by this transaction, which has not committed",
						run_id),
				 errdetail("No worker can see the run before that commit."),
				 errhint("Commit the transaction that enqueued the run, then wait for it.")));
	if (status == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run " INT64_FORMAT " does not exist", run_id),
				 errhint("Runs of roles you are not a member of are not visible.")));
	return status;
}

/* Publish in shared memory which run this backend waits for (0: none). */
static void
zj_api_wait_register(int64 run_id)
{
	static bool registered = false;
	int			me = zj_my_proc_number();

	if (!zj_shmem_ready() || me < 0 || me >= zj_shared->max_backends ||
		registered == (run_id != 0))
		return;
	pg_atomic_write_u64(&zj_shared->waiting_for[me], (uint64) run_id);
	if (run_id != 0)
		pg_atomic_fetch_add_u32(&zj_shared->waiters, 1);
	else
		pg_atomic_fetch_sub_u32(&zj_shared->waiters, 1);
	registered = run_id != 0;
}

static char *
zj_api_wait_loop(int64 run_id, TimestampTz deadline)
{
	for (;;)
	{
		char	   *status = zj_api_visible_status(run_id);
		long		sleep_ms = 250;

		if (zj_runstate_is_final(zj_runstate_from_name(status)))
			return status;
		if (deadline != 0)
		{
			long		left = (long) ((deadline - GetCurrentTimestamp()) / 1000);

			if (left <= 0)
				return status;
			sleep_ms = Min(sleep_ms, left);
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * jobs.wait(run_id, timeout) RETURNS text: block until the run is finished
 * (or the timeout passes) and return its status.  The publisher sets our
 * latch when the run finishes; a short poll covers a missing launcher.
 */
Datum
zj_wait(PG_FUNCTION_ARGS)
{
	int64		run_id;
	TimestampTz deadline = 0;
	char	   *status;

	zj_runctx_check_sees_runs("jobs.wait()");

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("run id must not be NULL")));
	run_id = PG_GETARG_INT64(0);
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("jobs.wait() cannot be used in a REPEATABLE READ or SERIALIZABLE transaction"),
				 errdetail("Its snapshot would never show the run finishing."),
				 errhint("Call it in a READ COMMITTED transaction.")));
	if (!PG_ARGISNULL(1))
	{
		double		usecs = zj_api_interval_usecs(PG_GETARG_INTERVAL_P(1));

		if (usecs < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("timeout must not be negative")));
		/* Beyond a century is forever. */
		if (usecs < 100.0 * 365 * USECS_PER_DAY)
			deadline = GetCurrentTimestamp() + (int64) usecs;
	}

	zj_api_wait_register(run_id);
	PG_TRY();
	{
		status = zj_api_wait_loop(run_id, deadline);
	}
	PG_FINALLY();
	{
		zj_api_wait_register(0);
	}
	PG_END_TRY();
	PG_RETURN_TEXT_P(cstring_to_text(status));
}

/* jobs.input() RETURNS jsonb: the running job's input, else NULL. */
Datum
zj_input(PG_FUNCTION_ARGS)
{
	if (zj_runctx_run == NULL || zj_runctx_run->input == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(zj_runctx_run->input);
}

/* jobs.current_run_id() RETURNS bigint: the running job's id, else NULL. */
Datum
zj_current_run_id(PG_FUNCTION_ARGS)
{
	if (zj_runctx_run == NULL)
		PG_RETURN_NULL();
	PG_RETURN_INT64(zj_runctx_run->id);
}

/* jobs.set_output(jsonb): the run's output, instead of its last row. */
Datum
zj_set_output(PG_FUNCTION_ARGS)
{
	if (zj_runctx_run == NULL)
	{
		ereport(NOTICE,
				(errmsg("jobs.set_output() does nothing outside a running job")));
		PG_RETURN_VOID();
	}
	zj_output_set(PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0));
	PG_RETURN_VOID();
}
