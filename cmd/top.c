/*-------------------------------------------------------------------------
 * top.c
 *	  zapjobs top: a full-screen live view of the runs, steered from the
 *	  keyboard (move, open a run, cancel after asking, retry, pause or
 *	  resume a queue, filter, quit).
 *
 *	  Updates come from LISTEN job_update.  An event only marks the screen
 *	  stale; it is read again and redrawn at most ten times a second,
 *	  however many events arrive, and every two seconds anyway for the
 *	  clocks and for changes that publish no event (a queue paused).
 *	  Idle, the process sleeps in select() on the connection and the
 *	  keyboard.
 *-------------------------------------------------------------------------
 */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "events.h"
#include "msg.h"
#include "top_view.h"

#define TOP_MIN_REDRAW_MS	100		/* at most 10 redraws a second */
#define TOP_IDLE_REDRAW_MS	2000
#define TOP_COST_SHARE		20		/* read at most 1/20 of the time */
#define TOP_RECONNECT_S		120

typedef enum TopAsk
{
	ASK_NONE, ASK_CANCEL, ASK_FILTER
} TopAsk;

typedef struct Top
{
	Conn	   *c;
	TopModel	m;
	TopUi		ui;
	bool		stale;			/* an event came since the last read */
	double		read_at;		/* when the model was last read (ms) */
	double		read_ms;		/* how long that read took */
	TopAsk		asking;
	char		ask_id[24];		/* the run a question is about */
	bool		quit;
} Top;

static void
top_end_screen(void)
{
	if (stdscr && !isendwin())
		endwin();
}

static double
top_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void top_clamp(Top *t);

/* Connect again (for two minutes at most) and LISTEN again. */
static void
top_reconnect(Top *t)
{
	double		deadline = top_clock_ms() + TOP_RECONNECT_S * 1000.0;

	while (!conn_reconnect(t->c, TOP_RECONNECT_S) || !events_listen(t->c))
	{
		if (top_clock_ms() >= deadline)
			msg_fail(EXIT_SERVER, "top: the server did not come back within %d s",
					 TOP_RECONNECT_S);
	}
	clearok(curscr, TRUE);		/* whatever was written over the screen goes */
}

/* Read the model again and draw; reconnects if the connection went away. */
static void
top_reload(Top *t)
{
	double		start = top_clock_ms();

	while (!top_model_refresh(t->c, &t->m))
	{
		snprintf(t->ui.status, sizeof(t->ui.status),
				 "connection to the server lost; reconnecting...");
		top_view_draw(&t->m, &t->ui);
		top_reconnect(t);
		t->ui.status[0] = '\0';
	}
	t->stale = false;
	t->read_at = top_clock_ms();
	t->read_ms = t->read_at - start;
	top_clamp(t);
	top_view_draw(&t->m, &t->ui);
}

/* Keep each list's selection on one of its rows. */
static void
top_clamp(Top *t)
{
	int			p;

	for (p = 0; p < PANE_COUNT; p++)
	{
		PGresult   *res = top_view_rows(&t->m, (TopPane) p);
		int			n = res ? PQntuples(res) : 0;

		if (t->ui.selected[p] >= n)
			t->ui.selected[p] = n - 1;
		if (t->ui.selected[p] < 0)
			t->ui.selected[p] = 0;
	}
}

/* The run the keys act on: the open one, else the selected run or failure. */
static bool
top_target_run(Top *t, char *id, size_t len)
{
	TopPane		p = t->ui.focus;
	PGresult   *res = top_view_rows(&t->m, p);

	if (t->ui.detail)
		snprintf(id, len, "%lld", t->m.detail_id);
	else if (p != PANE_QUEUES && res && t->ui.selected[p] < PQntuples(res))
		snprintf(id, len, "%s", PQgetvalue(res, t->ui.selected[p], 0));
	else
	{
		snprintf(t->ui.status, sizeof(t->ui.status), "select a run first");
		return false;
	}
	return true;
}

/* Run an action's SQL, show its answer, read everything again. */
static void
top_act(Top *t, const char *sql, const char *param)
{
	if (!top_model_act(t->c, sql, param, t->ui.status, sizeof(t->ui.status)))
		snprintf(t->ui.status, sizeof(t->ui.status), "connection to the server lost");
	top_reload(t);
}

/* p: pause the selected queue (or the selected run's), or resume it if paused. */
static void
top_toggle_queue(Top *t)
{
	PGresult   *q = t->m.queues;
	PGresult   *res = top_view_rows(&t->m, t->ui.focus);
	const char *queue = NULL;
	bool		paused = false;
	int			i;

	if (!t->ui.detail && res && t->ui.selected[t->ui.focus] < PQntuples(res))
		queue = PQgetvalue(res, t->ui.selected[t->ui.focus],
						   t->ui.focus == PANE_QUEUES ? TQ_NAME :
						   t->ui.focus == PANE_RUNS ? TR_QUEUE : TF_QUEUE);
	else if (t->ui.detail && t->m.detail && PQntuples(t->m.detail) == 1)
		queue = PQgetvalue(t->m.detail, 0, TD_QUEUE);
	if (!queue)
	{
		snprintf(t->ui.status, sizeof(t->ui.status), "select a queue or a run first");
		return;
	}
	for (i = 0; q && i < PQntuples(q); i++)
		if (strcmp(PQgetvalue(q, i, TQ_NAME), queue) == 0)
			paused = strcmp(PQgetvalue(q, i, TQ_PAUSED), "t") == 0;
	queue = strdup(queue);		/* the result is replaced by top_act */
	top_act(t, paused ?
			"SELECT 'queue ' || $1 || ' resumed' FROM jobs.resume_queue($1)" :
			"SELECT 'queue ' || $1 || ' paused' FROM jobs.pause_queue($1)", queue);
	free((void *) queue);
}

/* A key while a question or the filter prompt is shown. */
static void
top_answer(Top *t, int ch)
{
	size_t		len = strlen(t->ui.input);

	if (t->asking == ASK_CANCEL)
	{
		t->ui.prompt[0] = '\0';
		t->asking = ASK_NONE;
		if (ch == 'y' || ch == 'Y')
			top_act(t, "SELECT CASE WHEN jobs.cancel($1::bigint)"
					" THEN 'run ' || $1 || ' cancelled'"
					" ELSE 'run ' || $1 || ' had already finished' END", t->ask_id);
		else
			snprintf(t->ui.status, sizeof(t->ui.status), "run %s not cancelled", t->ask_id);
		return;
	}
	if (ch == '\n' || ch == KEY_ENTER || ch == 27)
	{
		if (ch != 27)
			snprintf(t->m.filter, sizeof(t->m.filter), "%s", t->ui.input);
		t->ui.prompt[0] = '\0';
		t->asking = ASK_NONE;
		t->ui.selected[PANE_RUNS] = 0;
		top_reload(t);
		return;
	}
	if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && len > 0)
	{
		/* a whole character: its continuation bytes, then its first */
		while (len > 1 && (t->ui.input[len - 1] & 0xC0) == 0x80)
			len--;
		t->ui.input[len - 1] = '\0';
	}
	else if (ch >= 0x20 && ch < 0x100 && ch != 127 && len + 1 < sizeof(t->ui.input))
	{
		t->ui.input[len] = (char) ch;
		t->ui.input[len + 1] = '\0';
	}
}

/* Forget the opened run, so another never shows its details. */
static void
top_close(Top *t)
{
	PQclear(t->m.detail);
	PQclear(t->m.logs);
	t->m.detail = t->m.logs = NULL;
	t->m.detail_id = 0;
	t->ui.detail = false;
}

/* Enter: open the selected run. */
static void
top_open(Top *t)
{
	char		id[24];

	if (t->ui.detail || !top_target_run(t, id, sizeof(id)))
		return;
	top_close(t);
	t->m.detail_id = atoll(id);
	t->ui.detail = true;
	top_reload(t);
}

/* A key in the list or the opened run. */
static void
top_key(Top *t, int ch)
{
	int		   *sel = &t->ui.selected[t->ui.focus];

	t->ui.status[0] = '\0';
	if (ch == 'q' || ch == 27)
	{
		if (!t->ui.detail)
			t->quit = ch == 'q';
		top_close(t);
	}
	else if (ch == KEY_UP || ch == 'k')
		(*sel)--;
	else if (ch == KEY_DOWN || ch == 'j')
		(*sel)++;
	else if (ch == '\t')
		t->ui.focus = (TopPane) ((t->ui.focus + 1) % PANE_COUNT);
	else if (ch == '\n' || ch == KEY_ENTER)
		top_open(t);
	else if (ch == 'c' && top_target_run(t, t->ask_id, sizeof(t->ask_id)))
	{
		t->asking = ASK_CANCEL;
		snprintf(t->ui.prompt, sizeof(t->ui.prompt), "Cancel run %s? (y/n) ", t->ask_id);
		t->ui.input[0] = '\0';
	}
	else if (ch == 'r' && top_target_run(t, t->ask_id, sizeof(t->ask_id)))
		top_act(t, "SELECT CASE WHEN jobs.retry($1::bigint)"
				" THEN 'run ' || $1 || ' queued again'"
				" ELSE 'run ' || $1 || ' not retried: only failed or cancelled runs are' END",
				t->ask_id);
	else if (ch == 'p')
		top_toggle_queue(t);
	else if (ch == '/' && !t->ui.detail)
	{
		t->asking = ASK_FILTER;
		snprintf(t->ui.prompt, sizeof(t->ui.prompt), "filter (name, queue or owner): ");
		snprintf(t->ui.input, sizeof(t->ui.input), "%s", t->m.filter);
	}
	top_clamp(t);
}

static void
top_start_screen(Top *t)
{
	if (!newterm(NULL, stdout, stdin))
		msg_fail(EXIT_USAGE, "top: this terminal (TERM=%s) cannot be driven",
				 getenv("TERM") ? getenv("TERM") : "");
	msg_set_cleanup(top_end_screen);
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	conn_catch_interrupts(t->c);
}

/*
 * Sleep until an event, a key or the next redraw is due.  Reading costs
 * the server too: counting a queue of a million pending runs takes a
 * while, and reading it ten times a second would take a core from the
 * workers.  So the pause after a read is at least TOP_COST_SHARE times
 * what the read took.
 */
static void
top_wait(Top *t)
{
	double		since = top_clock_ms() - t->read_at;
	double		due = t->stale ? TOP_MIN_REDRAW_MS : TOP_IDLE_REDRAW_MS;

	if (due < t->read_ms * TOP_COST_SHARE)
		due = t->read_ms * TOP_COST_SHARE;
	int			got;

	if (since >= due)
	{
		top_reload(t);
		return;
	}
	got = events_wait(t->c, (int) (due - since) + 1, STDIN_FILENO, NULL, NULL);
	if (got & EVENTS_GOT)
		t->stale = true;
	if (got & EVENTS_LOST)
		top_reload(t);
}

int
top_cmd(Conn *c, const Options *o)
{
	Top			t;
	int			ch;
	char		where[256];

	options_need_args(o, "top", 0, 0);
	memset(&t, 0, sizeof(t));
	t.c = c;
	c->quiet = true;
	snprintf(where, sizeof(where), "%s@%s", PQuser(c->pg), PQdb(c->pg));
	t.ui.where = where;
	if (!events_listen(c))
		msg_fail(EXIT_SERVER, "top: connection to the server lost");
	top_start_screen(&t);
	top_reload(&t);
	while (!t.quit && !conn_was_interrupted())
	{
		top_wait(&t);
		while ((ch = getch()) != ERR && !t.quit)
		{
			if (ch == KEY_RESIZE)
				;
			else if (t.asking != ASK_NONE)
				top_answer(&t, ch);
			else
				top_key(&t, ch);
			top_view_draw(&t.m, &t.ui);
		}
	}
	top_end_screen();
	top_model_clear(&t.m);
	return conn_was_interrupted() ? EXIT_INTERRUPTED : EXIT_RUN_COMPLETED;
}
