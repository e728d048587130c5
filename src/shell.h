/*-------------------------------------------------------------------------
 *
 * shell.h
 *	  Executing a shell job (shell.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_SHELL_H
#define ZAPJOBS_SHELL_H

#include "run.h"

extern void zj_shell_execute(ZjRun *run);

#endif							/* ZAPJOBS_SHELL_H */
