/*-------------------------------------------------------------------------
 *
 * shell_output.h
 *	  Following a shell job's output until it exits (shell_output.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_SHELL_OUTPUT_H
#define ZAPJOBS_SHELL_OUTPUT_H

#include "run.h"

extern void zj_shell_output_supervise(ZjRun *run, pid_t pid, int out_fd,
									  int err_fd);

#endif							/* ZAPJOBS_SHELL_OUTPUT_H */
