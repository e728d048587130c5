/*-------------------------------------------------------------------------
 * web_ops.h
 *	  zapjobs web's endpoints for operators: /healthz and /metrics.
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_WEB_OPS_H
#define ZJC_WEB_OPS_H

#include "conn.h"
#include "web_api.h"

/* GET /healthz: 200 when the database answers and has zapjobs, else 503 with the reason. */
extern void web_ops_health(Conn *c, WebReply *r);

/* GET /metrics: Prometheus text, every name starting zapjobs_. */
extern void web_ops_metrics(Conn *c, WebReply *r);

#endif
