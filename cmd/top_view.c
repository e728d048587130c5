/*-------------------------------------------------------------------------
 * top_view.c
 *	  zapjobs top's screen, drawn with curses: a title line with the pool
 *	  and throughput, then the running runs with their bars, the queues,
 *	  the last hour's failures and the workers; or one opened run with its
 *	  live log tail.  The selected row of the focused list is reversed.
 *
 *	  Every string from the database goes through format_clean, so a
 *	  job's message cannot move the cursor or change the terminal.
 *-------------------------------------------------------------------------
 */
#include <curses.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "top_view.h"

PGresult *
top_view_rows(const TopModel *m, TopPane pane)
{
	return pane == PANE_RUNS ? m->runs : pane == PANE_QUEUES ? m->queues : m->failures;
}

static int
top_view_nrows(const TopModel *m, TopPane pane)
{
	PGresult   *res = top_view_rows(m, pane);

	return res ? PQntuples(res) : 0;
}

/* Text at (y, x), cut to the screen's width, with attributes. */
static void
top_view_text(int y, int x, int attr, const char *text)
{
	char		clean[1024];

	if (y >= LINES || x >= COLS)
		return;
	format_clean(clean, sizeof(clean), text, COLS - x);
	attron(attr);
	mvaddstr(y, x, clean);
	attroff(attr);
}

static void
top_view_printf(int y, int x, int attr, const char *fmt,...)
	__attribute__((format(printf, 4, 5)));

static void
top_view_printf(int y, int x, int attr, const char *fmt,...)
{
	va_list		ap;
	char		buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	top_view_text(y, x, attr, buf);
}

static const char *
top_view_value(PGresult *res, int row, int col)
{
	return res && row < PQntuples(res) ? PQgetvalue(res, row, col) : "";
}

/* The title: who and where, pool, throughput, failures. */
static void
top_view_title(const TopModel *m, const TopUi *ui)
{
	PGresult   *s = m->summary;
	long long	completed;
	long long	failed;
	int			seconds;
	char		span[32] = "last minute";

	top_rate_minute(&m->rate, &completed, &failed, &seconds);
	if (seconds < TOP_RATE_SECONDS)
		snprintf(span, sizeof(span), "last %d s", seconds);
	top_view_printf(0, 0, A_BOLD, "zapjobs top  %s  %s", ui->where,
					top_view_value(s, 0, TS_NOW));
	top_view_printf(1, 0, 0,
					"workers %s/%s (%s busy, %s role(s) waiting)   %s: %lld completed,"
					" %lld failed   failures in the last hour: %s",
					top_view_value(s, 0, TS_WORKERS), top_view_value(s, 0, TS_MAX_WORKERS),
					top_view_value(s, 0, TS_BUSY), top_view_value(s, 0, TS_ROLES_WAITING),
					span, completed, failed, top_view_value(s, 0, TS_FAILURES_HOUR));
}

/* First row to show so that the selected one is on screen. */
static int
top_view_first(const TopUi *ui, TopPane pane, int height)
{
	int			sel = ui->selected[pane];

	return sel >= height ? sel - height + 1 : 0;
}

/* A section heading; the focused list's is highlighted. */
static void
top_view_heading(int y, const TopUi *ui, TopPane pane, const char *title, int n)
{
	top_view_printf(y, 0, ui->focus == pane ? A_BOLD | A_UNDERLINE : A_BOLD,
					"%s (%d)", title, n);
}

static int
top_view_row_attr(const TopUi *ui, TopPane pane, int row)
{
	return ui->focus == pane && ui->selected[pane] == row ? A_REVERSE : 0;
}

/* One running run: id, name, owner, bar, percent, ETA, elapsed, message. */
static void
top_view_run(int y, PGresult *r, int i, int attr)
{
	double		percent = atof(PQgetvalue(r, i, TR_PERCENT));
	char		bar[32];
	char		pct[12] = "";
	char		eta[16];
	char		elapsed[16];
	char		name[128];
	char		owner[128];
	char		line[1024];

	format_fit(name, sizeof(name), PQgetvalue(r, i, TR_NAME), 20);
	format_fit(owner, sizeof(owner), PQgetvalue(r, i, TR_OWNER), 12);
	format_bar(bar, sizeof(bar), percent, 20);
	if (percent >= 0)
		snprintf(pct, sizeof(pct), "%5.1f%%", percent);
	format_duration(eta, sizeof(eta), atof(PQgetvalue(r, i, TR_ETA)));
	format_duration(elapsed, sizeof(elapsed), atof(PQgetvalue(r, i, TR_ELAPSED)));
	snprintf(line, sizeof(line), "%8s  %s %s %s %6s %7s %7s  %s",
			 PQgetvalue(r, i, TR_ID), name, owner, bar, pct, eta, elapsed,
			 PQgetvalue(r, i, TR_MESSAGE));
	top_view_text(y, 0, attr, line);
}

static int
top_view_runs(const TopModel *m, const TopUi *ui, int y, int height)
{
	int			n = top_view_nrows(m, PANE_RUNS);
	int			i;

	top_view_heading(y++, ui, PANE_RUNS, "RUNNING", n);
	top_view_printf(y++, 0, A_DIM, "%8s  %-20s %-12s %-22s %6s %7s %7s  %s", "RUN", "NAME",
					"OWNER", "PROGRESS", "%", "ETA", "ELAPSED", "MESSAGE");
	for (i = top_view_first(ui, PANE_RUNS, height); i < n && height > 0; i++, height--)
		top_view_run(y++, m->runs, i, top_view_row_attr(ui, PANE_RUNS, i));
	return y;
}

static int
top_view_queues(const TopModel *m, const TopUi *ui, int y, int height)
{
	PGresult   *q = m->queues;
	int			n = top_view_nrows(m, PANE_QUEUES);
	int			i;

	top_view_heading(y++, ui, PANE_QUEUES, "QUEUES", n);
	top_view_printf(y++, 0, A_DIM, "%-24s %9s %9s %9s %9s  %s", "QUEUE", "PENDING",
					"SCHEDULED", "RETRYING", "RUNNING", "STATE");
	for (i = top_view_first(ui, PANE_QUEUES, height); i < n && height > 0; i++, height--)
	{
		char		name[128];

		format_fit(name, sizeof(name), PQgetvalue(q, i, TQ_NAME), 24);
		top_view_printf(y++, 0, top_view_row_attr(ui, PANE_QUEUES, i),
						"%s %9s %9s %9s %9s  %s", name,
						PQgetvalue(q, i, TQ_PENDING), PQgetvalue(q, i, TQ_SCHEDULED),
						PQgetvalue(q, i, TQ_RETRYING), PQgetvalue(q, i, TQ_RUNNING),
						strcmp(PQgetvalue(q, i, TQ_PAUSED), "t") == 0 ? "PAUSED" : "active");
	}
	return y;
}

static int
top_view_failures(const TopModel *m, const TopUi *ui, int y, int height)
{
	PGresult   *f = m->failures;
	int			n = top_view_nrows(m, PANE_FAILURES);
	int			i;

	top_view_heading(y++, ui, PANE_FAILURES, "FAILURES, LAST HOUR", n);
	top_view_printf(y++, 0, A_DIM, "%8s  %-20s %7s %-10s %-14s %8s  %s", "RUN", "NAME",
					"ATTEMPT", "OUTCOME", "RUN IS NOW", "AT", "ERROR");
	for (i = top_view_first(ui, PANE_FAILURES, height); i < n && height > 0; i++, height--)
	{
		char		name[128];

		format_fit(name, sizeof(name), PQgetvalue(f, i, TF_NAME), 20);
		top_view_printf(y++, 0, top_view_row_attr(ui, PANE_FAILURES, i),
						"%8s  %s %7s %-10s %-14s %8s  %s",
						PQgetvalue(f, i, TF_RUN_ID), name,
						PQgetvalue(f, i, TF_ATTEMPT), PQgetvalue(f, i, TF_OUTCOME),
						PQgetvalue(f, i, TF_RUN_STATUS), PQgetvalue(f, i, TF_AT),
						PQgetvalue(f, i, TF_ERROR));
	}
	return y;
}

/* Workers on as few lines as fit: "pid role state [run]". */
static void
top_view_workers(const TopModel *m, int y)
{
	PGresult   *w = m->workers;
	int			n = w ? PQntuples(w) : 0;
	int			x = 9;
	int			i;

	top_view_text(y, 0, A_BOLD, "WORKERS");
	for (i = 0; i < n && y < LINES - 2; i++)
	{
		char		item[160];
		int			len = snprintf(item, sizeof(item), "%s %s %s%s%s ",
								   PQgetvalue(w, i, TW_PID), PQgetvalue(w, i, TW_ROLE),
								   PQgetvalue(w, i, TW_STATE),
								   PQgetvalue(w, i, TW_RUN)[0] ? " run " : "",
								   PQgetvalue(w, i, TW_RUN));

		if (x + len > COLS && x > 9)
		{
			y++;
			x = 9;
		}
		top_view_text(y, x, 0, item);
		x += len + 1;
	}
}

/* The opened run: its fields, progress bar, error, then its log's tail. */
static void
top_view_detail(const TopModel *m)
{
	PGresult   *d = m->detail;
	PGresult   *l = m->logs;
	double		percent = atof(top_view_value(d, 0, TD_PERCENT));
	char		bar[64];
	char		eta[16];
	char		dur[16];
	int			y = 2;
	int			n = l ? PQntuples(l) : 0;
	int			i;

	if (!d || PQntuples(d) == 0)
	{
		top_view_printf(y, 0, 0, "run %lld is not visible (finished and removed, or not yours)",
						m->detail_id);
		return;
	}
	format_bar(bar, sizeof(bar), percent, 40);
	format_duration(eta, sizeof(eta), atof(PQgetvalue(d, 0, TD_ETA)));
	format_duration(dur, sizeof(dur), atof(PQgetvalue(d, 0, TD_DURATION)));
	top_view_printf(y++, 0, A_BOLD, "run %s  %s  %s  attempt %s/%s", PQgetvalue(d, 0, TD_ID),
					PQgetvalue(d, 0, TD_NAME), PQgetvalue(d, 0, TD_STATUS),
					PQgetvalue(d, 0, TD_ATTEMPT), PQgetvalue(d, 0, TD_MAX_ATTEMPTS));
	top_view_printf(y++, 0, 0, "owner %s  queue %s  created %s  started %s  duration %s",
					PQgetvalue(d, 0, TD_OWNER), PQgetvalue(d, 0, TD_QUEUE),
					PQgetvalue(d, 0, TD_CREATED), PQgetvalue(d, 0, TD_STARTED), dur);
	top_view_printf(y++, 0, 0, "%s %s/%s  ETA %s  %s", bar, PQgetvalue(d, 0, TD_CURRENT),
					PQgetvalue(d, 0, TD_TOTAL), eta, PQgetvalue(d, 0, TD_MESSAGE));
	if (PQgetvalue(d, 0, TD_ERROR)[0])
		top_view_printf(y++, 0, A_BOLD, "error [%s] %s", PQgetvalue(d, 0, TD_SQLSTATE),
						PQgetvalue(d, 0, TD_ERROR));
	top_view_printf(y++, 0, A_DIM, "command: %s", PQgetvalue(d, 0, TD_COMMAND));
	top_view_text(++y, 0, A_BOLD, "LOG");
	y++;
	/* the newest lines that fit, oldest of them first */
	for (i = n - (LINES - 2 - y) > 0 ? n - (LINES - 2 - y) : 0; i < n && y < LINES - 1; i++)
		top_view_printf(y++, 0, 0, "%s %-7s %s", PQgetvalue(l, i, TL_AT),
						PQgetvalue(l, i, TL_LEVEL), PQgetvalue(l, i, TL_MESSAGE));
}

/* The bottom line: a prompt being answered, else the last result and the keys. */
static void
top_view_bottom(const TopModel *m, const TopUi *ui)
{
	const char *keys = ui->detail ?
		"c cancel  r retry  Esc/q back" :
		"arrows move  Tab list  Enter open  c cancel  r retry  p pause/resume  / filter  q quit";

	move(LINES - 1, 0);
	clrtoeol();
	if (ui->prompt[0])
		top_view_printf(LINES - 1, 0, A_BOLD, "%s%s", ui->prompt, ui->input);
	else if (m->error[0])
		top_view_printf(LINES - 1, 0, A_BOLD, "error: %s", m->error);
	else if (ui->status[0])
		top_view_printf(LINES - 1, 0, A_BOLD, "%s", ui->status);
	else
		top_view_printf(LINES - 1, 0, A_DIM, "%s%s%s", keys,
						m->filter[0] ? "   filter: " : "", m->filter);
}

void
top_view_draw(const TopModel *m, const TopUi *ui)
{
	int			avail = LINES - 2 - 1 - 7;	/* title, bottom line, headings, workers */
	int			runs_h = avail / 2;
	int			queues_h = avail / 4;
	int			y;

	erase();
	top_view_title(m, ui);
	if (ui->detail)
		top_view_detail(m);
	else
	{
		y = top_view_runs(m, ui, 2, runs_h < 1 ? 1 : runs_h);
		y = top_view_queues(m, ui, y + 1, queues_h < 1 ? 1 : queues_h);
		y = top_view_failures(m, ui, y + 1, avail - runs_h - queues_h < 1 ? 1 :
							  avail - runs_h - queues_h);
		top_view_workers(m, y + 1);
	}
	top_view_bottom(m, ui);
	refresh();
}
