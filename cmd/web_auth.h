/*-------------------------------------------------------------------------
 * web_auth.h
 *	  zapjobs web's HTTP basic auth (--auth-file) and CSRF token.
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_WEB_AUTH_H
#define ZJC_WEB_AUTH_H

#include <stdbool.h>
#include <stddef.h>

/* Load "user:hash" lines (crypt(3) hashes); false with the reason in err. */
extern bool web_auth_load(const char *path, char *err, size_t errlen);

/* Is basic auth on? */
extern bool web_auth_enabled(void);

/* Do user and password match a line of the file? */
extern bool web_auth_check(const char *user, const char *password);

/* The token every POST must carry in X-CSRF-Token; NULL if no random bytes. */
extern const char *web_auth_csrf(void);

/* Does a request's token match? (compared in constant time) */
extern bool web_auth_csrf_ok(const char *token);

#endif
