/*-------------------------------------------------------------------------
 * web_http.c
 *	  zapjobs web's requests.  libmicrohttpd parses HTTP; this file
 *	  decides: the base path, basic auth, read-only mode and the CSRF
 *	  token for POSTs, CORS for the status indicator only, the security
 *	  headers every answer carries, and which part answers (the built-in
 *	  files, the event stream, the API, /healthz, /metrics).
 *
 *	  Each request runs in a thread of its own (libmicrohttpd's thread per
 *	  connection) and borrows a database connection from a small pool for
 *	  its query (a libpq connection serves one thread at a time); the pool's
 *	  connections are made like the main one, and again if one breaks.
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web_assets.h"
#include "web_auth.h"
#include "web_http.h"
#include "web_ops.h"
#include "web_sse.h"

#define WEB_HTTP_MAX_BODY	(1024 * 1024)

static const char web_http_csp[] =
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
	" connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#define WEB_HTTP_POOL 8

static pthread_mutex_t web_http_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t web_http_pool_free = PTHREAD_COND_INITIALIZER;
static Conn *web_http_pool[WEB_HTTP_POOL];	/* idle connections, or NULL */
static bool web_http_pool_busy[WEB_HTTP_POOL];	/* lent to a request */

/* A POST's body, gathered over the calls libmicrohttpd makes. */
typedef struct WebBody
{
	char	   *data;
	size_t		len;
	bool		too_big;
} WebBody;

/* Borrow a connection (made or made again); NULL with the reason. */
static Conn *
web_http_conn(const WebConfig *cfg, int *slot, char *err, size_t errlen)
{
	int			i;

	pthread_mutex_lock(&web_http_pool_lock);
	for (;;)
	{
		for (i = 0; i < WEB_HTTP_POOL && web_http_pool_busy[i]; i++)
			;
		if (i < WEB_HTTP_POOL)
			break;
		pthread_cond_wait(&web_http_pool_free, &web_http_pool_lock);
	}
	web_http_pool_busy[i] = true;
	pthread_mutex_unlock(&web_http_pool_lock);
	*slot = i;
	if (web_http_pool[i] && PQstatus(web_http_pool[i]->pg) != CONNECTION_OK)
	{
		conn_close(web_http_pool[i]);
		web_http_pool[i] = NULL;
	}
	if (!web_http_pool[i])
		web_http_pool[i] = conn_clone(cfg->template, err, errlen);
	return web_http_pool[i];
}

/* Give a borrowed connection back. */
static void
web_http_conn_done(int slot)
{
	pthread_mutex_lock(&web_http_pool_lock);
	web_http_pool_busy[slot] = false;
	pthread_cond_signal(&web_http_pool_free);
	pthread_mutex_unlock(&web_http_pool_lock);
}

/* Headers on every answer. */
static void
web_http_headers(struct MHD_Response *res, const char *type)
{
	MHD_add_response_header(res, "Content-Type", type);
	MHD_add_response_header(res, "Content-Security-Policy", web_http_csp);
	MHD_add_response_header(res, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(res, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(res, "Cache-Control", "no-store");
}

/* The indicator's origin may read its script, /api/active and /events. */
static void
web_http_cors(const WebConfig *cfg, struct MHD_Connection *conn,
			  struct MHD_Response *res, const char *path)
{
	const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");

	if (!cfg->allow_origin || !origin || strcmp(origin, cfg->allow_origin) != 0)
		return;
	if (strcmp(path, "/indicator.js") == 0 || strcmp(path, "/api/active") == 0 ||
		strcmp(path, "/events") == 0)
	{
		MHD_add_response_header(res, "Access-Control-Allow-Origin", cfg->allow_origin);
		MHD_add_response_header(res, "Vary", "Origin");
	}
}

/* Queue an answer whose body is malloc'ed text (or static when not owned). */
static enum MHD_Result
web_http_send(struct MHD_Connection *conn, unsigned int status, const char *type,
			  char *body, size_t len, bool owned, const WebConfig *cfg, const char *path)
{
	struct MHD_Response *res =
		MHD_create_response_from_buffer(len, body, owned ? MHD_RESPMEM_MUST_FREE
										: MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!res)
		return MHD_NO;
	web_http_headers(res, type);
	web_http_cors(cfg, conn, res, path);
	ret = MHD_queue_response(conn, status, res);
	MHD_destroy_response(res);
	return ret;
}

/* A WebReply as the answer. */
static enum MHD_Result
web_http_reply(struct MHD_Connection *conn, WebReply *r, const WebConfig *cfg, const char *path)
{
	if (!r->body)
		web_api_error(r, 500, "no answer");
	return web_http_send(conn, r->status, r->type, r->body, strlen(r->body), true, cfg, path);
}

static enum MHD_Result
web_http_error(struct MHD_Connection *conn, unsigned int status, const char *message,
			   const WebConfig *cfg, const char *path)
{
	WebReply	r = {0};

	web_api_error(&r, status, message);
	return web_http_reply(conn, &r, cfg, path);
}

/* "/jobs" -> "/jobs/": the page's links are relative to its folder. */
static enum MHD_Result
web_http_redirect(struct MHD_Connection *conn, const char *base)
{
	char		location[512];
	struct MHD_Response *res = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!res)
		return MHD_NO;
	snprintf(location, sizeof(location), "%s/", base);
	MHD_add_response_header(res, "Location", location);
	ret = MHD_queue_response(conn, 301, res);
	MHD_destroy_response(res);
	return ret;
}

/* Basic auth when --auth-file is given; false after queuing the refusal. */
static bool
web_http_authorized(struct MHD_Connection *conn, enum MHD_Result *ret)
{
	char	   *password = NULL;
	char	   *user;
	bool		ok;
	struct MHD_Response *res;

	if (!web_auth_enabled())
		return true;
	user = MHD_basic_auth_get_username_password(conn, &password);
	ok = web_auth_check(user, password);
	MHD_free(user);
	MHD_free(password);
	if (ok)
		return true;
	res = MHD_create_response_from_buffer(strlen("{\"error\":\"authentication required\"}"),
										  "{\"error\":\"authentication required\"}",
										  MHD_RESPMEM_PERSISTENT);
	web_http_headers(res, "application/json");
	*ret = MHD_queue_basic_auth_fail_response(conn, "zapjobs", res);
	MHD_destroy_response(res);
	return false;
}

/* GET /api/session: the CSRF token and what this dashboard allows. */
static enum MHD_Result
web_http_session(struct MHD_Connection *conn, const WebConfig *cfg, const char *path)
{
	char		body[256];

	snprintf(body, sizeof(body), "{\"csrf\":\"%s\",\"read_only\":%s,\"user\":\"%s\"}",
			 web_auth_csrf(), cfg->read_only ? "true" : "false", "");
	return web_http_send(conn, 200, "application/json", strdup(body), strlen(body), true,
						 cfg, path);
}

/* Every GET and HEAD. */
static enum MHD_Result
web_http_get(struct MHD_Connection *conn, const WebConfig *cfg, const char *path)
{
	const unsigned char *data;
	size_t		len;
	const char *type;
	char		err[512];
	Conn	   *db;
	int			slot;
	WebReply	r = {0};

	if (web_assets_find(path, &data, &len, &type))
		return web_http_send(conn, 200, type, (char *) data, len, false, cfg, path);
	if (strcmp(path, "/events") == 0)
	{
		struct MHD_Response *res = web_sse_open(conn);
		enum MHD_Result ret;

		if (!res)
			return web_http_error(conn, 503, "cannot open the event stream", cfg, path);
		web_http_cors(cfg, conn, res, path);
		ret = MHD_queue_response(conn, 200, res);
		MHD_destroy_response(res);
		return ret;
	}
	if (strcmp(path, "/api/session") == 0)
		return web_http_session(conn, cfg, path);
	db = web_http_conn(cfg, &slot, err, sizeof(err));
	if (!db)
		web_api_error(&r, 503, err);
	else if (strcmp(path, "/healthz") == 0)
		web_ops_health(db, &r);
	else if (strcmp(path, "/metrics") == 0)
		web_ops_metrics(db, &r);
	else if (strncmp(path, "/api/", 5) == 0)
		web_api_get(db, conn, path + 5, &r);
	else
		web_api_error(&r, 404, "no such page");
	web_http_conn_done(slot);
	if (strcmp(path, "/healthz") == 0 && !db)
	{
		free(r.body);
		return web_http_send(conn, 503, "text/plain; charset=utf-8", strdup(err),
							 strlen(err), true, cfg, path);
	}
	return web_http_reply(conn, &r, cfg, path);
}

/* A POST with its whole body: the checks, then the action. */
static enum MHD_Result
web_http_post(struct MHD_Connection *conn, const WebConfig *cfg, const char *path,
			  WebBody *body)
{
	const char *token = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-CSRF-Token");
	char		err[512];
	Conn	   *db;
	int			slot;
	WebReply	r = {0};

	if (body->too_big)
		return web_http_error(conn, 413, "the request body is too large", cfg, path);
	if (!web_auth_csrf_ok(token))
		return web_http_error(conn, 403, "missing or wrong CSRF token (X-CSRF-Token)", cfg, path);
	if (strncmp(path, "/api/", 5) != 0)
		return web_http_error(conn, 404, "no such action", cfg, path);
	db = web_http_conn(cfg, &slot, err, sizeof(err));
	if (db)
		web_api_post(db, path + 5, body->data ? body->data : "", &r);
	else
		web_api_error(&r, 503, err);
	web_http_conn_done(slot);
	return web_http_reply(conn, &r, cfg, path);
}

/* Gather a POST's body; true once it is whole. */
static bool
web_http_gather(WebBody *body, const char *upload, size_t *upload_size)
{
	if (*upload_size == 0)
		return true;
	if (!body->too_big && body->len + *upload_size <= WEB_HTTP_MAX_BODY)
	{
		char	   *grown = realloc(body->data, body->len + *upload_size + 1);

		if (grown)
		{
			memcpy(grown + body->len, upload, *upload_size);
			body->len += *upload_size;
			grown[body->len] = '\0';
			body->data = grown;
		}
		else
			body->too_big = true;
	}
	else
		body->too_big = true;
	*upload_size = 0;
	return false;
}

enum MHD_Result
web_http_handle(void *cls, struct MHD_Connection *conn, const char *url,
				const char *method, const char *version, const char *upload,
				size_t *upload_size, void **req_cls)
{
	const WebConfig *cfg = cls;
	size_t		base = strlen(cfg->base_path);
	const char *path = url;
	enum MHD_Result ret = MHD_NO;
	bool		post = strcmp(method, "POST") == 0;

	if (post && !*req_cls)
	{
		*req_cls = calloc(1, sizeof(WebBody));
		return *req_cls ? MHD_YES : MHD_NO;
	}
	if (post && !web_http_gather(*req_cls, upload, upload_size))
		return MHD_YES;
	/* read-only refuses every POST, before anything looks at its path */
	if (post && cfg->read_only)
		return web_http_error(conn, 403, "this dashboard is read-only (--read-only)", cfg, url);
	if (base > 0 && (strncmp(url, cfg->base_path, base) != 0 ||
					 (url[base] != '/' && url[base] != '\0')))
		return web_http_error(conn, 404, "no such page", cfg, url);
	if (base > 0 && url[base] == '\0')
		return web_http_redirect(conn, cfg->base_path);
	path = url + base;
	if (strcmp(path, "/healthz") != 0 && !web_http_authorized(conn, &ret))
		return ret;
	if (post)
		return web_http_post(conn, cfg, path, *req_cls);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return web_http_error(conn, 405, "only GET and POST", cfg, path);
	(void) version;
	return web_http_get(conn, cfg, path);
}

void
web_http_done(void *cls, struct MHD_Connection *conn, void **req_cls,
			  enum MHD_RequestTerminationCode code)
{
	WebBody    *body = *req_cls;

	if (body)
	{
		free(body->data);
		free(body);
		*req_cls = NULL;
	}
}
