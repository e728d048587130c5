/*-------------------------------------------------------------------------
 *
 * zapjobs.h
 *	  What every zapjobs module shares: names and sizes, and the GUC
 *	  variables (defined in init.c).  Everything else is declared in the
 *	  header of the module that owns it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_H
#define ZAPJOBS_H

#include "postgres.h"

#include "compat.h"

#define ZJ_EXTENSION_NAME	"zapjobs"
#define ZJ_NAME_MAX			64	/* queue and job names, incl. NUL */
#define ZJ_MESSAGE_MAX		201		/* progress message, incl. NUL */
#define ZJ_ERROR_TEXT_MAX	8192	/* a run's error message, detail, hint,
									 * context: longer ones are cut */
#define ZJ_TRUNCATED		" [truncated]"	/* marks text that was cut */

/* zapjobs.event_detail */
typedef enum ZjEventDetail
{
	ZJ_DETAIL_MINIMAL,			/* ids, states and numbers only */
	ZJ_DETAIL_FULL				/* also messages jobs report */
} ZjEventDetail;

/* GUCs (init.c) */
extern bool zj_preloaded;
extern char *zj_database;
extern int	zj_max_workers;
extern int	zj_max_databases;
extern int	zj_poll_interval_ms;
extern int	zj_default_timeout_s;
extern int	zj_default_max_attempts;
extern char *zj_channel;
extern int	zj_max_output_bytes;
extern int	zj_worker_idle_timeout_ms;
extern int	zj_batch_time_ms;
extern int	zj_vacuum_threshold;
extern int	zj_keep_completed_s;
extern int	zj_keep_failed_s;
extern int	zj_retry_base_ms;
extern double zj_retry_factor;
extern int	zj_retry_max_delay_ms;
extern char *zj_non_retryable_sqlstates;
extern int	zj_max_crashes;
extern int	zj_kill_grace_ms;
extern int	zj_max_log_lines;
extern int	zj_event_detail;
extern char *zj_timezone;
extern bool zj_shell_enabled;
extern char *zj_shell_directory;
extern int	zj_shell_kill_grace_ms;

#endif							/* ZAPJOBS_H */
