/*-------------------------------------------------------------------------
 *
 * procgroup.c
 *	  A child process in its own session and process group, so that the
 *	  whole group (grandchildren included) can be signalled and never
 *	  outlives its run: stopped gently (SIGTERM, then SIGKILL after a
 *	  grace), killed when the worker exits, killed by the parent's death
 *	  (PR_SET_PDEATHSIG), and found again after a crash by its group id.
 *
 *	  The child is set up with async-signal-safe calls only (no palloc, no
 *	  elog, _exit on failure): everything it needs is built before fork.
 *	  What runs in it, and its environment, are shell.c's business.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/pmsignal.h"
#include "utils/timestamp.h"

#include "procgroup.h"

/* The group of the child running now (its pid), 0 if none. */
static pid_t zj_procgroup_current = 0;
static bool zj_procgroup_exit_hook = false;

/* Close every descriptor from 3 up (data files, sockets, latch pipes). */
static void
zj_procgroup_close_fds(void)
{
	int			fd;
	long		max;

#if defined(__linux__) && defined(SYS_close_range)
	if (syscall(SYS_close_range, 3, ~0U, 0) == 0)
		return;
#endif
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = 3; fd < max; fd++)
		(void) close(fd);
}

/* In the child: async-signal-safe calls only. */
static void
zj_procgroup_child(const char *dir, char **argv, char **envp, int out, int err,
			   pid_t parent)
{
	sigset_t	none;
	int			sig;
	int			devnull;
	static const char msg[] = "zapjobs: could not start /bin/sh\n";

	/* Signals are blocked since before fork: no handler of ours runs here. */
	for (sig = 1; sig < NSIG; sig++)
		(void) signal(sig, SIG_DFL);
	(void) setsid();
#ifdef __linux__
	(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);				/* the worker died already */
#endif
	sigemptyset(&none);
	(void) sigprocmask(SIG_SETMASK, &none, NULL);
	devnull = open("/dev/null", O_RDONLY);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(126);
	zj_procgroup_close_fds();
	if (chdir(dir) < 0)
	{
		static const char nodir[] = "zapjobs: could not enter zapjobs.shell_directory\n";

		if (write(2, nodir, sizeof(nodir) - 1) < 0)
			_exit(126);
		_exit(126);
	}
	execve("/bin/sh", argv, envp);
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(127);
	_exit(127);
}

/* The worker is exiting: nothing of the group may outlive it. */
static void
zj_procgroup_on_exit(int code, Datum arg)
{
	if (zj_procgroup_current > 0)
	{
		(void) kill(-zj_procgroup_current, SIGKILL);
		(void) waitpid(zj_procgroup_current, NULL, WNOHANG);
	}
}

/*
 * Start `/bin/sh -c command` in directory dir with environment envp;
 * returns the child's pid (= its process group), and the read ends of its
 * stdout and stderr, non-blocking.
 */
pid_t
zj_procgroup_spawn(const char *command, char **envp, const char *dir,
				   int *out_fd, int *err_fd)
{
	char	   *argv[4] = {"sh", "-c", unconstify(char *, command), NULL};
	int			out[2];
	int			err[2];
	pid_t		pid;
	pid_t		parent = getpid();
	sigset_t	all;
	sigset_t	old;

	if (!zj_procgroup_exit_hook)
	{
		before_shmem_exit(zj_procgroup_on_exit, (Datum) 0);
		zj_procgroup_exit_hook = true;
	}
	if (pipe(out) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create pipes for a shell job: %m")));
	if (pipe(err) < 0)
	{
		close(out[0]);
		close(out[1]);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create pipes for a shell job: %m")));
	}
	fflush(NULL);
	sigfillset(&all);
	(void) sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0)
		zj_procgroup_child(dir, argv, envp, out[1], err[1], parent);
	(void) sigprocmask(SIG_SETMASK, &old, NULL);
	close(out[1]);
	close(err[1]);
	if (pid < 0)
	{
		close(out[0]);
		close(err[0]);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start a shell job: %m")));
	}
	zj_procgroup_current = pid;
	(void) fcntl(out[0], F_SETFL, O_NONBLOCK);
	(void) fcntl(err[0], F_SETFL, O_NONBLOCK);
	(void) fcntl(out[0], F_SETFD, FD_CLOEXEC);
	(void) fcntl(err[0], F_SETFD, FD_CLOEXEC);
	*out_fd = out[0];
	*err_fd = err[0];
	return pid;
}

/*
 * Is a process of group pgid running (not a zombie)?  With in_session,
 * only one that is also in the session of that id counts: setsid made
 * both the child's pid, so a reused pid elsewhere does not.
 */
static bool
zj_procgroup_running(pid_t pgid, bool in_session)
{
#ifdef __linux__
	DIR		   *proc = opendir("/proc");
	struct dirent *de;
	bool		found = false;

	while (proc != NULL && !found && (de = readdir(proc)) != NULL)
	{
		char		path[64];
		char		buf[512];
		FILE	   *f;
		char	   *close_paren;
		char		state = 0;
		int			pgrp = 0;
		int			session = 0;

		if (!isdigit((unsigned char) de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL &&
			(close_paren = strrchr(buf, ')')) != NULL &&
			sscanf(close_paren + 2, "%c %*d %d %d", &state, &pgrp, &session) == 3)
			found = pgrp == pgid && state != 'Z' &&
				(!in_session || session == pgid);
		fclose(f);
	}
	if (proc != NULL)
		closedir(proc);
	return found;
#else
	return kill(-pgid, 0) == 0;
#endif
}

/* Has the child (not yet reaped) exited?  It stays a zombie, keeping its pid. */
bool
zj_procgroup_exited(pid_t pid)
{
	siginfo_t	info;

	memset(&info, 0, sizeof(info));
	return waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		info.si_pid == pid;
}

/*
 * Stop the group: SIGTERM, then SIGKILL once zapjobs.shell_kill_grace has
 * passed or nothing of it runs any more; then reap the child.  Until then
 * the child, even a zombie, keeps the group's id from being reused.
 */
void
zj_procgroup_stop(pid_t pid, bool gently)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   gently ? zj_shell_kill_grace_ms : 0);

	if (zj_procgroup_current != pid)
		return;					/* reaped already */
	(void) kill(-pid, gently ? SIGTERM : SIGKILL);
	while (GetCurrentTimestamp() < deadline && !ProcDiePending &&
		   PostmasterIsAlive() && zj_procgroup_running(pid, false))
		pg_usleep(20000L);
	zj_procgroup_reap(pid);
}

/* Kill what is left of the group, then reap the child; its status. */
int
zj_procgroup_reap(pid_t pid)
{
	int			status = 0;

	(void) kill(-pid, SIGKILL);
	(void) waitpid(pid, &status, 0);
	zj_procgroup_current = 0;
	return status;
}

/* After a crash: kill what is left of a run's process group. */
void
zj_procgroup_kill_orphans(pid_t pgid)
{
	if (pgid <= 1 || !zj_procgroup_running(pgid, true))
		return;
	elog(LOG, "zapjobs killed process group %d left by a shell job", (int) pgid);
	(void) kill(-pgid, SIGKILL);
}
