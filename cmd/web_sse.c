/*-------------------------------------------------------------------------
 * web_sse.c
 *	  Server-Sent Events to every browser: one LISTEN connection's events
 *	  (web_hub.c) fanned out to any number of streams.
 *
 *	  Each browser has a bounded buffer and a thread of its own
 *	  (libmicrohttpd's thread per connection).  Publishing only appends to
 *	  the buffers; web_sse_flush, after each batch of events, wakes the
 *	  threads, and each drains its buffer as fast as its browser reads,
 *	  sleeping on a condition variable while it is empty.  A stalled browser
 *	  therefore delays no one, neither another browser nor a page: when its
 *	  buffer is full its backlog is dropped and it is sent "event: resync",
 *	  on which the page reads everything again.  "event: counts" says that
 *	  the counts of runs not finished (web_counts.c) changed: they are
 *	  taken every few seconds, so a page that read them on an event may
 *	  show counts older than the event, and no other event may follow.
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web_sse.h"

#define WEB_SSE_BUFFER	(128 * 1024)	/* per browser; full: resync */

static const char web_sse_hello[] = "retry: 2000\n\nevent: hello\ndata: {}\n\n";
static const char web_sse_resync[] = "event: resync\ndata: {}\n\n";
static const char web_sse_counts[] = "event: counts\ndata: {}\n\n";

typedef struct SseClient
{
	struct SseClient *next;
	struct MHD_Connection *conn;
	char		buf[WEB_SSE_BUFFER];	/* bytes [off, len) still to send */
	size_t		off;
	size_t		len;
	bool		resync;			/* overflowed: send the resync event next */
} SseClient;

static pthread_mutex_t web_sse_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t web_sse_wake = PTHREAD_COND_INITIALIZER;	/* data or closing */
static SseClient *web_sse_clients = NULL;	/* under web_sse_lock */
static bool web_sse_closing = false;

/* Append bytes to one browser's buffer, under the lock. */
static void
web_sse_append(SseClient *cl, const char *data, size_t n)
{
	if (cl->off > 0 && cl->len + n > WEB_SSE_BUFFER)
	{
		memmove(cl->buf, cl->buf + cl->off, cl->len - cl->off);
		cl->len -= cl->off;
		cl->off = 0;
	}
	if (cl->len + n > WEB_SSE_BUFFER)
	{
		/* too slow a reader: drop what it missed, tell it to read afresh */
		cl->off = cl->len = 0;
		cl->resync = true;
	}
	else
	{
		memcpy(cl->buf + cl->len, data, n);
		cl->len += n;
	}
}

/* libmicrohttpd asks for the next bytes of a stream: wait until there are some. */
static ssize_t
web_sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
	SseClient  *cl = cls;
	size_t		n = 0;

	pthread_mutex_lock(&web_sse_lock);
	while (!web_sse_closing && !cl->resync && cl->off == cl->len)
		pthread_cond_wait(&web_sse_wake, &web_sse_lock);
	if (web_sse_closing)
	{
		pthread_mutex_unlock(&web_sse_lock);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	if (cl->resync && max >= sizeof(web_sse_resync) - 1)
	{
		n = sizeof(web_sse_resync) - 1;
		memcpy(out, web_sse_resync, n);
		cl->resync = false;
	}
	else if (cl->off < cl->len)
	{
		n = cl->len - cl->off < max ? cl->len - cl->off : max;
		memcpy(out, cl->buf + cl->off, n);
		cl->off += n;
		if (cl->off == cl->len)
			cl->off = cl->len = 0;
	}
	pthread_mutex_unlock(&web_sse_lock);
	return (ssize_t) n;
}

/* The stream ended (the browser went, or we stop): forget the browser. */
static void
web_sse_free(void *cls)
{
	SseClient  *cl = cls;
	SseClient **p;

	pthread_mutex_lock(&web_sse_lock);
	for (p = &web_sse_clients; *p; p = &(*p)->next)
		if (*p == cl)
		{
			*p = cl->next;
			break;
		}
	pthread_mutex_unlock(&web_sse_lock);
	free(cl);
}

struct MHD_Response *
web_sse_open(struct MHD_Connection *conn)
{
	SseClient  *cl = calloc(1, sizeof(SseClient));
	struct MHD_Response *res;

	if (!cl)
		return NULL;
	cl->conn = conn;
	memcpy(cl->buf, web_sse_hello, sizeof(web_sse_hello) - 1);
	cl->len = sizeof(web_sse_hello) - 1;
	res = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
											web_sse_read, cl, web_sse_free);
	if (!res)
	{
		free(cl);
		return NULL;
	}
	MHD_add_response_header(res, "Content-Type", "text/event-stream; charset=utf-8");
	MHD_add_response_header(res, "Cache-Control", "no-cache");
	MHD_add_response_header(res, "X-Accel-Buffering", "no");
	pthread_mutex_lock(&web_sse_lock);
	cl->next = web_sse_clients;
	web_sse_clients = cl;
	pthread_mutex_unlock(&web_sse_lock);
	return res;
}

/* Append the same bytes to every browser (woken by web_sse_flush). */
static void
web_sse_broadcast(const char *data, size_t n)
{
	SseClient  *cl;

	pthread_mutex_lock(&web_sse_lock);
	for (cl = web_sse_clients; cl; cl = cl->next)
		web_sse_append(cl, data, n);
	pthread_mutex_unlock(&web_sse_lock);
}

/*
 * Wake the browsers' threads: once per batch of events rather than per
 * event, so that a browser gets many events in one write.
 */
void
web_sse_flush(void)
{
	pthread_mutex_lock(&web_sse_lock);
	pthread_cond_broadcast(&web_sse_wake);
	pthread_mutex_unlock(&web_sse_lock);
}

void
web_sse_publish(const char *payload)
{
	char		msg[9000];		/* NOTIFY payloads are below 8000 bytes */
	int			n = snprintf(msg, sizeof(msg), "data: %s\n\n", payload);

	if (n > 0 && (size_t) n < sizeof(msg) && !strpbrk(payload, "\r\n"))
		web_sse_broadcast(msg, (size_t) n);
}

void
web_sse_publish_resync(void)
{
	web_sse_broadcast(web_sse_resync, sizeof(web_sse_resync) - 1);
}

void
web_sse_publish_counts(void)
{
	web_sse_broadcast(web_sse_counts, sizeof(web_sse_counts) - 1);
	web_sse_flush();
}

void
web_sse_heartbeat(void)
{
	web_sse_broadcast(": heartbeat\n\n", 13);
}

void
web_sse_close_all(void)
{
	pthread_mutex_lock(&web_sse_lock);
	web_sse_closing = true;
	pthread_mutex_unlock(&web_sse_lock);
	web_sse_flush();			/* every sleeping stream wakes, and ends */
}
