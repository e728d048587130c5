/*-------------------------------------------------------------------------
 * web.c
 *	  zapjobs web: the live dashboard and the status indicator, served by
 *	  libmicrohttpd from this program.  The main thread holds the one
 *	  LISTEN connection (web_hub.c); libmicrohttpd's threads answer the
 *	  browsers (web_http.c).  It listens on 127.0.0.1 unless told
 *	  otherwise, and connects as the role it is given, so row-level
 *	  security decides what anyone sees.
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "commands.h"
#include "events.h"
#include "msg.h"
#include "web_auth.h"
#include "web_counts.h"
#include "web_hub.h"
#include "web_http.h"
#include "web_sse.h"

/* A listening socket for "HOST:PORT" ("[::1]:8080" for IPv6); exits on error. */
static int
web_listen(const char *spec)
{
	char		host[256];
	char		port[16];
	struct addrinfo hints = {0};
	struct addrinfo *ai;
	int			fd;
	int			on = 1;
	int			rc;

	if (sscanf(spec, "[%255[^]]]:%15[0-9]", host, port) != 2 &&
		(sscanf(spec, "%255[^:]:%15[0-9]", host, port) != 2 || strchr(host, ':')))
		msg_fail(EXIT_USAGE, "web: --listen takes HOST:PORT, such as 127.0.0.1:8080 or [::1]:8080,"
				 " not \"%s\"", spec);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0)
		msg_fail(EXIT_USAGE, "web: --listen %s: %s (give an IP address)", spec, gai_strerror(rc));
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
		bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0)
		msg_fail(EXIT_SERVER, "web: cannot listen on %s: %s", spec, strerror(errno));
	freeaddrinfo(ai);
	return fd;
}

/* --base-path: "" or "/a/b" (no trailing slash, no odd characters). */
static const char *
web_base_path(const char *given)
{
	static char base[256];
	size_t		n;

	if (!given || strcmp(given, "/") == 0 || given[0] == '\0')
		return "";
	n = strlen(given);
	while (n > 1 && given[n - 1] == '/')
		n--;
	if (given[0] != '/' || n >= sizeof(base) || strspn(given, "/-_.~abcdefghijklmnopqrstuvwxyz"
													   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") < n)
		msg_fail(EXIT_USAGE, "web: --base-path must start with / and hold only letters, digits and -_.~/");
	memcpy(base, given, n);
	base[n] = '\0';
	return base;
}

static void
web_check_options(const Options *o)
{
	char		err[512];

	if (o->auth_file && !web_auth_load(o->auth_file, err, sizeof(err)))
		msg_fail(EXIT_USAGE, "web: %s", err);
	if (o->allow_origin && strncmp(o->allow_origin, "http://", 7) != 0 &&
		strncmp(o->allow_origin, "https://", 8) != 0)
		msg_fail(EXIT_USAGE, "web: --allow-origin takes an origin such as https://app.example.com");
	if (!web_auth_csrf())
		msg_fail(EXIT_SERVER, "web: no random bytes for the CSRF token");
}

int
web_cmd(Conn *c, const Options *o)
{
	const char *spec = o->listen ? o->listen : "127.0.0.1:8080";
	WebConfig	cfg = {0};
	struct MHD_Daemon *d;
	char		err[512];
	int			fd;

	web_check_options(o);
	cfg.base_path = web_base_path(o->base_path);
	cfg.read_only = o->read_only;
	cfg.allow_origin = o->allow_origin;
	cfg.template = c;
	fd = web_listen(spec);
	if (!web_counts_start(c, err, sizeof(err)))
		msg_fail(EXIT_SERVER, "web: %s", err);
	web_hub_backfill(c);
	conn_catch_interrupts(c);
	if (!events_listen(c))
		msg_fail(EXIT_SERVER, "web: connection to the server lost");
	/* a thread per connection: a stream that writes never holds up a page */
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
						 MHD_USE_POLL, 0, NULL, NULL, web_http_handle, &cfg,
						 MHD_OPTION_LISTEN_SOCKET, fd,
						 MHD_OPTION_NOTIFY_COMPLETED, web_http_done, NULL,
						 MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 1000,
						 MHD_OPTION_END);
	if (!d)
		msg_fail(EXIT_SERVER, "web: the HTTP server did not start");
	fprintf(stderr, "zapjobs web: http://%s%s/ (database %s as %s%s)\n", spec, cfg.base_path,
			PQdb(c->pg), PQuser(c->pg), cfg.read_only ? ", read-only" : "");
	web_hub_run(c);
	web_sse_close_all();
	MHD_stop_daemon(d);
	return conn_was_interrupted() ? EXIT_RUN_COMPLETED : EXIT_SERVER;
}
