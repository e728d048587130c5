/*-------------------------------------------------------------------------
 * web_assets.h
 *	  The dashboard's page, script, style and status indicator, built into
 *	  the program (cmd/web/).
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_WEB_ASSETS_H
#define ZJC_WEB_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

/* The file served at path ("/", "/app.js", ...); false if none. */
extern bool web_assets_find(const char *path, const unsigned char **data,
							size_t *len, const char **type);

#endif
