/*-------------------------------------------------------------------------
 * web_scope.h
 *	  Which events zapjobs web's role may see: those of the runs it can
 *	  read in jobs.runs and of the workers jobs.workers shows it.
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_WEB_SCOPE_H
#define ZJC_WEB_SCOPE_H

#include "events.h"

typedef void (*web_scope_fn) (const Event *ev);

/* Learn, on c, whether the role sees every run (row-level security bypassed). */
extern void web_scope_init(Conn *c);

/*
 * An event from the launcher: passed to fn at once when the role sees
 * everything, else kept until web_scope_flush decides.
 */
extern void web_scope_offer(Conn *c, const Event *ev, web_scope_fn fn);

/*
 * Pass the kept events the role may see to fn, in the order they came;
 * false if c could not say (they are all dropped then).
 */
extern bool web_scope_flush(Conn *c, web_scope_fn fn);

#endif
