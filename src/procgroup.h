/*-------------------------------------------------------------------------
 *
 * procgroup.h
 *	  A shell command in a process group of its own (procgroup.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_PROCGROUP_H
#define ZAPJOBS_PROCGROUP_H

#include "zapjobs.h"

extern pid_t zj_procgroup_spawn(const char *command, char **envp,
								const char *dir, int *out_fd, int *err_fd);
extern bool zj_procgroup_exited(pid_t pid);
extern void zj_procgroup_stop(pid_t pid, bool gently);
extern int	zj_procgroup_reap(pid_t pid);
extern void zj_procgroup_kill_orphans(pid_t pgid);

#endif							/* ZAPJOBS_PROCGROUP_H */
