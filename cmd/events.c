/*-------------------------------------------------------------------------
 * events.c
 *	  Receiving job_update notifications: waiting on the connection's
 *	  socket, trusting only the launcher's, parsing their JSON.
 *
 *	  NOTIFY has no access control, so any role can send a payload that
 *	  looks like a run's completion.  Only the launcher sends real ones,
 *	  and libpq tells who sent each (be_pid); the launcher's pid is read
 *	  from jobs.pool at LISTEN time and again when a notification comes
 *	  from an unknown backend (a restarted launcher has a new pid), at most
 *	  once a second so that a forger cannot make us query without end.
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "events.h"

bool
events_about(const Event *ev, long long id)
{
	if (ev->type == EVENT_RUNS)
		return ev->first_id <= id && id <= ev->last_id;
	return ev->type != EVENT_WORKER && ev->id == id;
}

bool
events_listen(Conn *c)
{
	PGresult   *res = conn_try_query(c, "LISTEN job_update", 0, NULL);

	if (!res)
		return false;
	PQclear(res);
	conn_read_launcher(c);
	return !conn_lost(c);
}

static long long
events_int(json_object *obj, const char *key, bool *have)
{
	json_object *v;
	bool		ok = json_object_object_get_ex(obj, key, &v) &&
		json_object_get_type(v) != json_type_null;

	if (have)
		*have = ok;
	return ok ? json_object_get_int64(v) : 0;
}

static void
events_text(json_object *obj, const char *key, char *dst, size_t len, bool *have)
{
	json_object *v;
	bool		ok = json_object_object_get_ex(obj, key, &v) &&
		json_object_get_type(v) == json_type_string;

	snprintf(dst, len, "%s", ok ? json_object_get_string(v) : "");
	if (have)
		*have = ok;
}

static EventType
events_type(const char *type)
{
	static const char *const names[] = {"run", "runs", "progress", "log", "worker"};
	int			i;

	for (i = 0; i < 5; i++)
		if (strcmp(type, names[i]) == 0)
			return (EventType) i;
	return EVENT_OTHER;
}

/* Parse a payload into ev; false if it is not a JSON object. */
static bool
events_parse(const char *payload, Event *ev)
{
	json_object *obj = json_tokener_parse(payload);
	char		type[16];

	memset(ev, 0, sizeof(*ev));
	if (!obj || json_object_get_type(obj) != json_type_object)
	{
		json_object_put(obj);
		return false;
	}
	events_text(obj, "type", type, sizeof(type), NULL);
	ev->type = events_type(type);
	ev->id = events_int(obj, "id", NULL);
	ev->first_id = events_int(obj, "first_id", NULL);
	ev->last_id = events_int(obj, "last_id", NULL);
	events_text(obj, "status", ev->status, sizeof(ev->status), NULL);
	ev->attempt = (int) events_int(obj, "attempt", NULL);
	ev->max_attempts = (int) events_int(obj, "max_attempts", NULL);
	ev->log_id = events_int(obj, "log_id", NULL);
	ev->current = events_int(obj, "current", &ev->have_current);
	ev->total = events_int(obj, "total", &ev->have_total);
	ev->processed = events_int(obj, "processed", NULL);
	events_text(obj, "message", ev->message, sizeof(ev->message), &ev->have_message);
	ev->count = events_int(obj, "count", NULL);
	events_text(obj, "started_at", ev->started_at, sizeof(ev->started_at), NULL);
	events_text(obj, "finished_at", ev->finished_at, sizeof(ev->finished_at), NULL);
	events_text(obj, "role", ev->role, sizeof(ev->role), NULL);
	ev->raw = payload;
	json_object_put(obj);
	return true;
}

/* Is a notification from this backend real?  Re-learns a new launcher's pid. */
static bool
events_trusted(Conn *c, int be_pid)
{
	static time_t last_lookup = 0;

	if (be_pid == c->launcher_pid && be_pid != 0)
		return true;
	if (time(NULL) == last_lookup)
		return false;
	last_lookup = time(NULL);
	conn_read_launcher(c);
	return be_pid == c->launcher_pid && be_pid != 0;
}

/*
 * Hand every notification already received to fn.  Returns EVENTS_GOT if
 * one was real, EVENTS_UNTRUSTED if one was dropped.
 */
static int
events_drain(Conn *c, events_fn fn, void *arg)
{
	PGnotify   *n;
	int			flags = 0;
	Event		ev;

	while ((n = PQnotifies(c->pg)) != NULL)
	{
		if (strcmp(n->relname, "job_update") != 0)
			;
		else if (!events_trusted(c, n->be_pid))
			flags |= EVENTS_UNTRUSTED;
		else if (!fn)
			flags |= EVENTS_GOT;	/* only "something happened": no parsing */
		else if (events_parse(n->extra, &ev))
		{
			fn(&ev, arg);
			flags |= EVENTS_GOT;
		}
		PQfreemem(n);
	}
	return flags;
}

/* Empty the interrupt pipe; true if Ctrl-C (or SIGTERM) came. */
static bool
events_interrupted(void)
{
	char		buf[64];
	int			fd = conn_interrupt_fd();

	while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0)
		;
	return conn_was_interrupted();
}

int
events_wait(Conn *c, int timeout_ms, int extra_fd, events_fn fn, void *arg)
{
	struct pollfd fds[3] = {
		{PQsocket(c->pg), POLLIN, 0}, {conn_interrupt_fd(), POLLIN, 0}, {extra_fd, POLLIN, 0}
	};
	int			flags;
	int			nready;

	if (events_interrupted())
		return EVENTS_INTERRUPTED;
	/* Notifications may have come with an earlier query's result. */
	flags = events_drain(c, fn, arg);
	if (flags & EVENTS_GOT)
		return flags;
	if (fds[0].fd < 0)
		return flags | EVENTS_LOST;
	nready = poll(fds, 3, timeout_ms);
	if (events_interrupted())
		return flags | EVENTS_INTERRUPTED;
	if (nready < 0)				/* another signal (a resize): nothing happened */
		return errno == EINTR ? flags : flags | EVENTS_LOST;
	if (nready == 0)
		return flags | EVENTS_TIMEOUT;
	if (fds[0].revents)
	{
		if (!PQconsumeInput(c->pg) || conn_lost(c))
			return flags | EVENTS_LOST;
		flags |= events_drain(c, fn, arg);
	}
	return flags;
}
