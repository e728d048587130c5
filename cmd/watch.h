/*-------------------------------------------------------------------------
 * watch.h
 *	  Following one run to its end: zapjobs watch, enqueue --wait.
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_WATCH_H
#define ZJC_WATCH_H

#include "conn.h"

/*
 * Show run id's progress and log lines until it ends; returns the exit
 * code of its final state (msg.h).  plain: one line per event, no escape
 * codes (also chosen without a terminal or with NO_COLOR set).  logs_only
 * (logs -f): print the log lines only.
 */
extern int	watch_run(Conn *c, long long id, bool plain, bool logs_only);

#endif
