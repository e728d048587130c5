/*-------------------------------------------------------------------------
 * web_http.h
 *	  zapjobs web's requests: routing, access rules, response headers.
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_WEB_HTTP_H
#define ZJC_WEB_HTTP_H

#include <stdbool.h>
#include <microhttpd.h>

#include "conn.h"

typedef struct WebConfig
{
	const char *base_path;		/* "" or "/jobs": where the dashboard lives */
	bool		read_only;		/* every POST is refused */
	const char *allow_origin;	/* CORS for the indicator; NULL: none */
	const Conn *template;		/* each thread connects like it */
} WebConfig;

/* libmicrohttpd's access handler (cls: the WebConfig). */
extern enum MHD_Result web_http_handle(void *cls, struct MHD_Connection *conn,
									   const char *url, const char *method,
									   const char *version, const char *upload,
									   size_t *upload_size, void **req_cls);

/* libmicrohttpd's "request completed" callback: frees a POST's body. */
extern void web_http_done(void *cls, struct MHD_Connection *conn, void **req_cls,
						  enum MHD_RequestTerminationCode code);

#endif
