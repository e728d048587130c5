/*
 * listen.c: LISTEN on a channel and print, for every notification, the local
 * receive time and the payload, for the event-latency section of run.sh.
 *
 *     listen CONNINFO CHANNEL MAX_SECONDS [COUNT]
 *
 * Prints "# listening" once LISTEN is in effect, then one line per
 * notification: microseconds since the epoch (CLOCK_REALTIME, taken as soon
 * as the socket turns readable), a tab, and the payload escaped for COPY's
 * text format.  Stops after COUNT notifications, after MAX_SECONDS, or on
 * SIGTERM/SIGINT.
 *
 * cc -O2 -I$(pg_config --includedir) listen.c -L$(pg_config --libdir) -lpq
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include <libpq-fe.h>

static volatile sig_atomic_t stop = 0;

static void
on_signal(int sig)
{
	(void) sig;
	stop = 1;
}

static long long
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The payload as a COPY text-format field. */
static void
print_escaped(const char *s)
{
	for (; *s; s++)
	{
		if (*s == '\\')
			fputs("\\\\", stdout);
		else if (*s == '\t')
			fputs("\\t", stdout);
		else if (*s == '\n')
			fputs("\\n", stdout);
		else if (*s == '\r')
			fputs("\\r", stdout);
		else
			putchar(*s);
	}
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	PGresult   *res;
	char	   *sql;
	long long	deadline;
	long long	count = 0;
	long long	max_count;

	if (argc != 4 && argc != 5)
	{
		fprintf(stderr, "usage: %s CONNINFO CHANNEL MAX_SECONDS [COUNT]\n", argv[0]);
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	deadline = now_us() + atoll(argv[3]) * 1000000LL;
	max_count = argc == 5 ? atoll(argv[4]) : -1;

	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "listen: %s", PQerrorMessage(conn));
		return 1;
	}
	sql = PQescapeIdentifier(conn, argv[2], strlen(argv[2]));
	{
		char		buf[256];

		snprintf(buf, sizeof(buf), "LISTEN %s", sql);
		res = PQexec(conn, buf);
	}
	PQfreemem(sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "listen: %s", PQerrorMessage(conn));
		return 1;
	}
	PQclear(res);
	printf("# listening\n");
	fflush(stdout);

	while (!stop && now_us() < deadline && count != max_count)
	{
		int			sock = PQsocket(conn);
		fd_set		rd;
		struct timeval tv = {0, 100000};
		long long	t;
		PGnotify   *n;

		FD_ZERO(&rd);
		FD_SET(sock, &rd);
		if (select(sock + 1, &rd, NULL, NULL, &tv) < 0)
		{
			if (errno == EINTR)
				continue;
			perror("listen: select");
			return 1;
		}
		t = now_us();
		if (!PQconsumeInput(conn))
		{
			fprintf(stderr, "listen: %s", PQerrorMessage(conn));
			return 1;
		}
		while ((n = PQnotifies(conn)) != NULL)
		{
			printf("%lld\t", t);
			print_escaped(n->extra);
			putchar('\n');
			PQfreemem(n);
			count++;
		}
		fflush(stdout);
	}
	PQfinish(conn);
	return 0;
}
