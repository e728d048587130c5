/*-------------------------------------------------------------------------
 *
 * sqlexec.c
 *	  Executes a job's SQL text the way psql's simple query protocol does:
 *	  every statement through a real portal, several statements in one
 *	  implicit transaction block, and a lone statement at top level so that
 *	  VACUUM, CREATE INDEX CONCURRENTLY and procedures that COMMIT work.
 *
 *	  Parse and plan trees live in the caller's job context, not in
 *	  transaction memory, because a procedure may commit mid-job.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/portal.h"
#include "utils/ps_status.h"
#include "utils/snapmgr.h"

#include "output.h"
#include "sqlexec.h"

/* Refuse what has no meaning without a client of its own. */
static void
zj_sqlexec_reject_unsupported(RawStmt *raw)
{
	if (IsA(raw->stmt, CopyStmt) && ((CopyStmt *) raw->stmt)->filename == NULL &&
		!((CopyStmt *) raw->stmt)->is_program)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("COPY to or from the client is not possible in a job"),
				 errdetail("A job has no client connection."),
				 errhint("COPY to or from a server file, or use INSERT ... SELECT.")));
	if (IsA(raw->stmt, TransactionStmt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("transaction control statements are not allowed in a job"),
				 errdetail("Each run executes in a transaction of its own, which commits together with the run's completion."),
				 errhint("To commit part way, put the work in a procedure that COMMITs and make CALL the job's only statement.")));
}

/* Analyze, plan and run one statement; its first row goes to receiver. */
static void
zj_sqlexec_run_statement(RawStmt *raw, const char *sql, bool is_top_level,
					 MemoryContext job_cxt, DestReceiver *receiver)
{
	CommandTag	tag = CreateCommandTag(raw->stmt);
	bool		snapshot_set = false;
	MemoryContext old;
	List	   *querytrees;
	List	   *plantrees;
	Portal		portal;
	QueryCompletion qc;

	set_ps_display(GetCommandTagName(tag));
	BeginCommand(tag, DestNone);

	if (analyze_requires_snapshot(raw))
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		snapshot_set = true;
	}
	old = MemoryContextSwitchTo(job_cxt);
	querytrees = zj_analyze_and_rewrite(raw, sql);
	plantrees = pg_plan_queries(querytrees, sql, CURSOR_OPT_PARALLEL_OK, NULL);
	if (snapshot_set)
		PopActiveSnapshot();
	CHECK_FOR_INTERRUPTS();

	portal = CreatePortal("", true, true);
	portal->visible = false;
	PortalDefineQuery(portal, NULL, sql, tag, plantrees, NULL);
	PortalStart(portal, NULL, 0, InvalidSnapshot);
	MemoryContextSwitchTo(old);

	zj_output_reset();
	(void) PortalRun(portal, FETCH_ALL, is_top_level, true,
					 receiver, receiver, &qc);
	PortalDrop(portal, false);
}

/* Parse a job's text into raw statements kept in job_cxt. */
List *
zj_sqlexec_parse(const char *sql, MemoryContext job_cxt)
{
	MemoryContext old = MemoryContextSwitchTo(job_cxt);
	List	   *parsetrees = pg_parse_query(sql);

	MemoryContextSwitchTo(old);
	return parsetrees;
}

/*
 * May this job share a transaction with other runs, in a subtransaction of
 * its own?  Only if every statement is a plain query or DML: those behave
 * the same nested as at top level (no VACUUM, no CALL or DO that might
 * COMMIT, no utility command that refuses transaction blocks).
 */
bool
zj_sqlexec_batchable(List *parsetrees)
{
	ListCell   *lc;

	foreach(lc, parsetrees)
	{
		Node	   *stmt = lfirst_node(RawStmt, lc)->stmt;

		if (!IsA(stmt, SelectStmt) && !IsA(stmt, InsertStmt) &&
			!IsA(stmt, UpdateStmt) && !IsA(stmt, DeleteStmt))
			return false;
	}
	return parsetrees != NIL;
}

/*
 * Execute parsed statements in the current transaction.  On return the
 * transaction is still open (possibly a new one, after a procedure's
 * COMMIT) so that the caller can record the run's completion in it.
 * nested: we are in a subtransaction of a batch (see zj_sqlexec_batchable).
 */
void
zj_sqlexec_run(List *parsetrees, const char *sql, MemoryContext job_cxt,
		   bool nested)
{
	DestReceiver *receiver = zj_output_receiver(job_cxt);
	bool		is_top_level = !nested && list_length(parsetrees) == 1;
	bool		implicit_block = !nested && !is_top_level;
	ListCell   *lc;

	/* Several statements share one implicit block, as in psql -c. */
	if (implicit_block)
		BeginImplicitTransactionBlock();

	foreach(lc, parsetrees)
	{
		RawStmt    *raw = lfirst_node(RawStmt, lc);

		zj_sqlexec_reject_unsupported(raw);
		zj_sqlexec_run_statement(raw, sql, is_top_level, job_cxt, receiver);
		/* Let later statements see what earlier ones wrote. */
		if (lnext(parsetrees, lc) != NULL)
			CommandCounterIncrement();
	}

	/* Back to a plain transaction, which the caller's commit really ends. */
	if (implicit_block)
		EndImplicitTransactionBlock();
}

/* Parse and execute sql at top level: zj_sqlexec_run for a whole text. */
void
zj_sqlexec_execute(const char *sql, MemoryContext job_cxt)
{
	zj_sqlexec_run(zj_sqlexec_parse(sql, job_cxt), sql, job_cxt, false);
}
