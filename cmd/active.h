/*-------------------------------------------------------------------------
 * active.h
 *	  The runs not finished, as every count of them in the command reads
 *	  them (top, the dashboard, /metrics).
 *
 *	  jobs.runs may hold millions of finished runs.  "status IN (four
 *	  states)" matches none of the table's partial indexes, so it reads the
 *	  whole table (half a second with a million runs); one branch per
 *	  partial index (pending; scheduled and awaiting_retry; running;
 *	  waiting) reads only the runs not finished.
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_ACTIVE_H
#define ZJC_ACTIVE_H

/* A FROM item "r" with queue, status and run_at of every run not finished. */
#define ACTIVE_RUNS \
	"(SELECT a.queue, a.status, a.run_at FROM jobs.runs a WHERE a.status = 'pending'" \
	" UNION ALL SELECT a.queue, a.status, a.run_at FROM jobs.runs a" \
	"  WHERE a.status IN ('scheduled', 'awaiting_retry')" \
	" UNION ALL SELECT a.queue, a.status, a.run_at FROM jobs.runs a WHERE a.status = 'running'" \
	" UNION ALL SELECT a.queue, a.status, a.run_at FROM jobs.runs a WHERE a.status = 'waiting') r"

#endif
