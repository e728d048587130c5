/*-------------------------------------------------------------------------
 * web_scope.c
 *	  Which events zapjobs web passes on.  Row-level security does not
 *	  apply to notifications: every listener gets every event, with run
 *	  names, progress messages and log lines.  The dashboard connects as
 *	  the role it is given so that this role decides what anyone sees; its
 *	  browsers get the events of the runs the role can read in jobs.runs
 *	  and of the workers jobs.workers shows it (of roles it is a member
 *	  of; all with pg_read_all_stats), and nothing else.
 *
 *	  A role that bypasses row-level security (a superuser, BYPASSRLS) sees
 *	  every run: its events go on as they come, at no cost.  For any other
 *	  role the events of one batch (what one wait on the LISTEN connection
 *	  brought) are kept until one query says which of their runs and roles
 *	  it may see.  Nothing is remembered between batches: a GRANT or REVOKE
 *	  counts from the next batch on.
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web_scope.h"

/* Events kept at most before a query decides (then one is made early). */
#define WEB_SCOPE_BATCH 512

/* A kept event; raw points to its own copy of the payload. */
typedef struct WebScopeItem
{
	Event		ev;
	char	   *raw;
} WebScopeItem;

static bool web_scope_everything = false;	/* the role bypasses RLS */
static WebScopeItem web_scope_items[WEB_SCOPE_BATCH];
static int	web_scope_count = 0;

/* The visible ones of some runs ($1) and roles ($2). */
static const char *const web_scope_sql =
	"SELECT 'run', r.id::text FROM jobs.runs r WHERE r.id = ANY ($1::bigint[])"
	" UNION ALL "
	"SELECT 'role', a.rolname::text FROM pg_catalog.pg_roles a"
	" WHERE a.rolname = ANY ($2::text[])"
	"   AND (pg_catalog.pg_has_role(a.oid, 'MEMBER')"
	"        OR pg_catalog.pg_has_role('pg_read_all_stats'::name, 'USAGE'))";

void
web_scope_init(Conn *c)
{
	PGresult   *res;
	char		err[256];

	web_scope_everything = false;
	if (conn_exec(c, "SELECT rolsuper OR rolbypassrls FROM pg_catalog.pg_roles"
				  " WHERE rolname = current_user", 0, NULL, &res, err, sizeof(err)) != CONN_OK)
		return;					/* not known: every event is checked */
	web_scope_everything = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
}

/* Forget the kept events. */
static void
web_scope_clear(void)
{
	int			i;

	for (i = 0; i < web_scope_count; i++)
		free(web_scope_items[i].raw);
	web_scope_count = 0;
}

void
web_scope_offer(Conn *c, const Event *ev, web_scope_fn fn)
{
	WebScopeItem *item;

	if (web_scope_everything)
	{
		fn(ev);
		return;
	}
	if (web_scope_count == WEB_SCOPE_BATCH)
		web_scope_flush(c, fn);
	item = &web_scope_items[web_scope_count];
	item->raw = strdup(ev->raw);
	if (!item->raw)
		return;					/* out of memory: the event is dropped */
	item->ev = *ev;
	item->ev.raw = item->raw;
	web_scope_count++;
}

/* Append text to a growing buffer; false when out of memory. */
static bool
web_scope_add(char **buf, size_t *len, size_t *cap, const char *text, size_t n)
{
	if (*len + n + 1 > *cap)
	{
		size_t		want = (*len + n + 1) * 2;
		char	   *grown = realloc(*buf, want);

		if (!grown)
			return false;
		*buf = grown;
		*cap = want;
	}
	memcpy(*buf + *len, text, n);
	*len += n;
	(*buf)[*len] = '\0';
	return true;
}

/* Append a role name to an array literal, quoted ("a\"b"). */
static bool
web_scope_add_role(char **buf, size_t *len, size_t *cap, const char *role)
{
	const char *p;
	bool		ok = web_scope_add(buf, len, cap, *len > 1 ? ",\"" : "\"", *len > 1 ? 2 : 1);

	for (p = role; ok && *p; p++)
	{
		if (*p == '"' || *p == '\\')
			ok = web_scope_add(buf, len, cap, "\\", 1);
		ok = ok && web_scope_add(buf, len, cap, p, 1);
	}
	return ok && web_scope_add(buf, len, cap, "\"", 1);
}

/*
 * The array literals of the kept events' runs ("{1,2}") and workers' roles
 * ("{"a","b"}"); false when out of memory.
 */
static bool
web_scope_arrays(char **ids, char **roles)
{
	size_t		ilen = 0,
				icap = 0,
				rlen = 0,
				rcap = 0;
	bool		ok = web_scope_add(ids, &ilen, &icap, "{", 1) &&
		web_scope_add(roles, &rlen, &rcap, "{", 1);
	int			i;

	for (i = 0; ok && i < web_scope_count; i++)
	{
		const Event *ev = &web_scope_items[i].ev;
		char		num[48];

		if (ev->type == EVENT_OTHER)
			continue;
		if (ev->type == EVENT_WORKER)
		{
			ok = web_scope_add_role(roles, &rlen, &rcap, ev->role);
			continue;
		}
		if (ev->type == EVENT_RUNS)
			snprintf(num, sizeof(num), "%lld,%lld", ev->first_id, ev->last_id);
		else
			snprintf(num, sizeof(num), "%lld", ev->id);
		ok = (ilen == 1 || web_scope_add(ids, &ilen, &icap, ",", 1)) &&
			web_scope_add(ids, &ilen, &icap, num, strlen(num));
	}
	return ok && web_scope_add(ids, &ilen, &icap, "}", 1) &&
		web_scope_add(roles, &rlen, &rcap, "}", 1);
}

static int
web_scope_cmp(const void *a, const void *b)
{
	long long	x = *(const long long *) a;
	long long	y = *(const long long *) b;

	return x < y ? -1 : x > y;
}

/* What the query answered: the visible runs, sorted, and roles. */
typedef struct WebScopeSeen
{
	long long  *runs;
	int			nruns;
	PGresult   *res;			/* the roles are its rows of kind "role" */
} WebScopeSeen;

static bool
web_scope_run_seen(const WebScopeSeen *seen, long long id)
{
	return id > 0 && bsearch(&id, seen->runs, seen->nruns, sizeof(long long),
							 web_scope_cmp) != NULL;
}

/* May the role see this kept event? */
static bool
web_scope_visible(const Event *ev, const WebScopeSeen *seen)
{
	int			i;

	switch (ev->type)
	{
		case EVENT_RUN:
		case EVENT_PROGRESS:
		case EVENT_LOG:
			return web_scope_run_seen(seen, ev->id);
		case EVENT_RUNS:
			/* a summary's runs are one transaction's: its first or last will do */
			return web_scope_run_seen(seen, ev->first_id) ||
				web_scope_run_seen(seen, ev->last_id);
		case EVENT_WORKER:
			for (i = 0; i < PQntuples(seen->res); i++)
				if (strcmp(PQgetvalue(seen->res, i, 0), "role") == 0 &&
					strcmp(PQgetvalue(seen->res, i, 1), ev->role) == 0)
					return true;
			return false;
		default:
			/* a type this dashboard does not know: of whom, it cannot tell */
			return false;
	}
}

bool
web_scope_flush(Conn *c, web_scope_fn fn)
{
	char	   *ids = NULL;
	char	   *roles = NULL;
	const char *params[2];
	WebScopeSeen seen = {0};
	char		err[256];
	bool		ok;
	int			i;

	if (web_scope_count == 0)
		return true;
	ok = web_scope_arrays(&ids, &roles);
	params[0] = ids;
	params[1] = roles;
	ok = ok && conn_exec(c, web_scope_sql, 2, params, &seen.res, err, sizeof(err)) == CONN_OK;
	if (ok && PQntuples(seen.res) > 0)
	{
		seen.runs = malloc(PQntuples(seen.res) * sizeof(long long));
		ok = seen.runs != NULL;
	}
	for (i = 0; ok && i < PQntuples(seen.res); i++)
		if (strcmp(PQgetvalue(seen.res, i, 0), "run") == 0)
			seen.runs[seen.nruns++] = atoll(PQgetvalue(seen.res, i, 1));
	if (ok)
		qsort(seen.runs, seen.nruns, sizeof(long long), web_scope_cmp);
	for (i = 0; ok && i < web_scope_count; i++)
		if (web_scope_visible(&web_scope_items[i].ev, &seen))
			fn(&web_scope_items[i].ev);
	free(seen.runs);
	PQclear(seen.res);
	free(ids);
	free(roles);
	web_scope_clear();
	return ok;
}
