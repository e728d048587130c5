/*-------------------------------------------------------------------------
 * commands.h
 *	  The zapjobs subcommands.  Each takes its parsed options and an open
 *	  connection and returns the exit code (msg.h).
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_COMMANDS_H
#define ZJC_COMMANDS_H

#include "conn.h"

/* enqueue.c */
extern int	enqueue_cmd(Conn *c, const Options *o);
extern int	enqueue_trigger(Conn *c, const Options *o);
extern int	enqueue_watch(Conn *c, const Options *o);

/* runs.c */
extern int	runs_ls(Conn *c, const Options *o);
extern int	runs_show(Conn *c, const Options *o);
extern int	runs_logs(Conn *c, const Options *o);

/* steer.c */
extern int	steer_cancel(Conn *c, const Options *o);
extern int	steer_retry(Conn *c, const Options *o);
extern int	steer_pause(Conn *c, const Options *o);
extern int	steer_resume(Conn *c, const Options *o);

/* overview.c */
extern int	overview_schedules(Conn *c, const Options *o);
extern int	overview_workers(Conn *c, const Options *o);
extern int	overview_stats(Conn *c, const Options *o);

/* top.c */
extern int	top_cmd(Conn *c, const Options *o);

/* web.c */
extern int	web_cmd(Conn *c, const Options *o);

#endif
