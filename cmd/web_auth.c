/*-------------------------------------------------------------------------
 * web_auth.c
 *	  Who may use zapjobs web.  With --auth-file, HTTP basic auth against
 *	  a file of "user:hash" lines, the hashes in crypt(3) form (yescrypt
 *	  "$y$", SHA-512 "$6$", bcrypt "$2b$": what `mkpasswd` or `openssl
 *	  passwd -6` print); passwords are never stored.  Every POST must also
 *	  carry the CSRF token the page reads from GET /api/session: another
 *	  site's page can make a browser POST but cannot read that answer
 *	  (same-origin policy) nor set the header on a form.
 *-------------------------------------------------------------------------
 */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "web_auth.h"

#define WEB_AUTH_USERS 256

typedef struct WebUser
{
	char		name[128];
	char		hash[256];
} WebUser;

static WebUser web_auth_users[WEB_AUTH_USERS];
static int	web_auth_nusers = -1;	/* -1: auth is off */
static char web_auth_token[65];

bool
web_auth_load(const char *path, char *err, size_t errlen)
{
	FILE	   *f = fopen(path, "r");
	char		line[512];
	int			lineno = 0;

	if (!f)
	{
		snprintf(err, errlen, "cannot read the auth file \"%s\": %m", path);
		return false;
	}
	web_auth_nusers = 0;
	while (fgets(line, sizeof(line), f))
	{
		char	   *colon = strchr(line, ':');

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (!colon || colon == line || colon[1] != '$' ||
			web_auth_nusers == WEB_AUTH_USERS ||
			(size_t) (colon - line) >= sizeof(web_auth_users[0].name) ||
			strlen(colon + 1) >= sizeof(web_auth_users[0].hash))
		{
			fclose(f);
			snprintf(err, errlen, "%s, line %d: expected user:hash with a crypt(3) hash"
					 " (mkpasswd or openssl passwd -6)", path, lineno);
			return false;
		}
		*colon = '\0';
		strcpy(web_auth_users[web_auth_nusers].name, line);
		strcpy(web_auth_users[web_auth_nusers].hash, colon + 1);
		web_auth_nusers++;
	}
	fclose(f);
	return true;
}

bool
web_auth_enabled(void)
{
	return web_auth_nusers >= 0;
}

bool
web_auth_check(const char *user, const char *password)
{
	int			i;

	for (i = 0; user && password && i < web_auth_nusers; i++)
		if (strcmp(web_auth_users[i].name, user) == 0)
		{
			struct crypt_data data;
			const char *h;

			memset(&data, 0, sizeof(data));
			h = crypt_r(password, web_auth_users[i].hash, &data);
			return h && strcmp(h, web_auth_users[i].hash) == 0;
		}
	return false;
}

const char *
web_auth_csrf(void)
{
	if (!web_auth_token[0])
	{
		unsigned char raw[32];
		int			i;

		/* getrandom blocks only until the kernel's pool is first ready */
		if (getrandom(raw, sizeof(raw), 0) != (ssize_t) sizeof(raw))
			return NULL;
		for (i = 0; i < 32; i++)
			sprintf(web_auth_token + 2 * i, "%02x", raw[i]);
	}
	return web_auth_token;
}

bool
web_auth_csrf_ok(const char *token)
{
	const char *want = web_auth_csrf();
	unsigned char diff = 0;
	size_t		i;

	if (!want || !token || strlen(token) != strlen(want))
		return false;
	for (i = 0; want[i]; i++)
		diff |= (unsigned char) (want[i] ^ token[i]);
	return diff == 0;
}
