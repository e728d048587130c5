/*-------------------------------------------------------------------------
 * web_sse.h
 *	  The browsers listening on GET /events (Server-Sent Events).
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_WEB_SSE_H
#define ZJC_WEB_SSE_H

#include <stddef.h>
#include <microhttpd.h>

/* A response that streams events to this browser until it goes. */
extern struct MHD_Response *web_sse_open(struct MHD_Connection *conn);

/* Queue "data: payload" for every browser (payload is one line of JSON). */
extern void web_sse_publish(const char *payload);

/* Wake the browsers with something to send: after a batch of events. */
extern void web_sse_flush(void);

/* Tell every browser to read everything again (events may have been missed). */
extern void web_sse_publish_resync(void);

/* Tell every browser, now, that the counts of runs not finished changed. */
extern void web_sse_publish_counts(void);

/* Send a comment line to every browser, so proxies and browsers see life. */
extern void web_sse_heartbeat(void);

/* Stopping: every stream ends (suspended ones are resumed to end). */
extern void web_sse_close_all(void);

#endif
