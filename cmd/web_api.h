/*-------------------------------------------------------------------------
 * web_api.h
 *	  zapjobs web's JSON API: what the pages read and the actions they take.
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_WEB_API_H
#define ZJC_WEB_API_H

#include <microhttpd.h>

#include "conn.h"

/* An answer: status, body (malloc'ed) and its type. */
typedef struct WebReply
{
	unsigned int status;
	char	   *body;
	const char *type;
} WebReply;

/* Set r to a JSON error {"error": message} with the status. */
extern void web_api_error(WebReply *r, unsigned int status, const char *message);

/* GET /api/...: path is what follows "/api/". */
extern void web_api_get(Conn *c, struct MHD_Connection *conn, const char *path,
						WebReply *r);

/* POST /api/...: body is the request's JSON. */
extern void web_api_post(Conn *c, const char *path, const char *body, WebReply *r);

#endif
