/*-------------------------------------------------------------------------
 * top_view.h
 *	  Drawing zapjobs top's screen from its model and the user's place in it.
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_TOP_VIEW_H
#define ZJC_TOP_VIEW_H

#include "top_model.h"

/* The lists a user moves in; Tab goes from one to the next. */
typedef enum TopPane
{
	PANE_RUNS, PANE_QUEUES, PANE_FAILURES, PANE_COUNT
} TopPane;

typedef struct TopUi
{
	TopPane		focus;
	int			selected[PANE_COUNT];	/* row selected in each list */
	bool		detail;			/* a run is open (model.detail_id) */
	char		status[512];	/* the bottom line: last action's result */
	char		prompt[160];	/* a question or input prompt; "" if none */
	char		input[128];		/* what is typed after the prompt */
	const char *where;			/* user@database, for the title */
} TopUi;

/* The result whose rows the pane lists. */
extern PGresult *top_view_rows(const TopModel *m, TopPane pane);

/* Draw the whole screen (list or opened run) and refresh it. */
extern void top_view_draw(const TopModel *m, const TopUi *ui);

#endif
