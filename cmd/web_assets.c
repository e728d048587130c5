/*-------------------------------------------------------------------------
 * web_assets.c
 *	  The dashboard's files, compiled in: `xxd -i` turns each file of cmd/web into
 *	  web_assets_data.inc at build time, so the program needs no files at
 *	  run time and serves exactly what it was built with.
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "web_assets.h"
#include "web_assets_data.inc"

typedef struct WebAsset
{
	const char *path;
	const unsigned char *data;
	const unsigned int *len;
	const char *type;
} WebAsset;

/* Scripts must be text/javascript: browsers refuse a module of another type. */
static const WebAsset web_assets[] = {
	{"/", index_html, &index_html_len, "text/html; charset=utf-8"},
	{"/index.html", index_html, &index_html_len, "text/html; charset=utf-8"},
	{"/app.js", app_js, &app_js_len, "text/javascript; charset=utf-8"},
	{"/dom.js", dom_js, &dom_js_len, "text/javascript; charset=utf-8"},
	{"/format.js", format_js, &format_js_len, "text/javascript; charset=utf-8"},
	{"/api.js", api_js, &api_js_len, "text/javascript; charset=utf-8"},
	{"/live.js", live_js, &live_js_len, "text/javascript; charset=utf-8"},
	{"/progress.js", progress_js, &progress_js_len, "text/javascript; charset=utf-8"},
	{"/view.js", view_js, &view_js_len, "text/javascript; charset=utf-8"},
	{"/overview.js", overview_js, &overview_js_len, "text/javascript; charset=utf-8"},
	{"/runs.js", runs_js, &runs_js_len, "text/javascript; charset=utf-8"},
	{"/run.js", run_js, &run_js_len, "text/javascript; charset=utf-8"},
	{"/queues.js", queues_js, &queues_js_len, "text/javascript; charset=utf-8"},
	{"/definitions.js", definitions_js, &definitions_js_len, "text/javascript; charset=utf-8"},
	{"/workers.js", workers_js, &workers_js_len, "text/javascript; charset=utf-8"},
	{"/app.css", app_css, &app_css_len, "text/css; charset=utf-8"},
	{"/indicator.js", indicator_js, &indicator_js_len, "text/javascript; charset=utf-8"},
};

bool
web_assets_find(const char *path, const unsigned char **data, size_t *len,
				const char **type)
{
	size_t		i;

	for (i = 0; i < sizeof(web_assets) / sizeof(web_assets[0]); i++)
		if (strcmp(path, web_assets[i].path) == 0)
		{
			*data = web_assets[i].data;
			*len = *web_assets[i].len;
			*type = web_assets[i].type;
			return true;
		}
	return false;
}
