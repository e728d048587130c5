/*-------------------------------------------------------------------------
 * table.c
 *	  Printing query results.  Widths are counted in screen columns, not
 *	  bytes, so names in any script line up; values go through
 *	  format_clean, so a value cannot move the cursor or break a row.
 *-------------------------------------------------------------------------
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "msg.h"
#include "table.h"

/* Numbers are right-aligned, as psql does (type oids from pg_type.h). */
static bool
table_numeric(PGresult *res, int f)
{
	Oid			t = PQftype(res, f);

	return t == 20 || t == 21 || t == 23 || t == 700 || t == 701 || t == 1700;
}

/*
 * Print s padded to width characters (on the left if right), control
 * characters as '?'; the last column is not padded.
 */
static void
table_cell(FILE *out, const char *s, int width, bool right, bool last)
{
	size_t		len = strlen(s) + 1;	/* a '?' replaces one byte or more */
	char	   *clean = malloc(len);
	int			pad;

	if (!clean)
		msg_fail(EXIT_SERVER, "out of memory");
	pad = width - format_clean(clean, len, s, INT_MAX);
	if (right)
		fprintf(out, "%*s", pad, "");
	fputs(clean, out);
	if (!last)
		fprintf(out, "%*s", right ? 2 : pad + 2, "");
	free(clean);
}

void
table_print(FILE *out, PGresult *res)
{
	int			ncols = PQnfields(res);
	int			nrows = PQntuples(res);
	int		   *width = calloc(ncols + 1, sizeof(int));
	int			r,
				f;

	if (!width)
		msg_fail(EXIT_SERVER, "out of memory");
	for (f = 0; f < ncols; f++)
	{
		width[f] = format_width(PQfname(res, f));
		for (r = 0; r < nrows; r++)
			if (format_width(PQgetvalue(res, r, f)) > width[f])
				width[f] = format_width(PQgetvalue(res, r, f));
	}
	for (f = 0; f < ncols; f++)
		table_cell(out, PQfname(res, f), width[f], table_numeric(res, f), f == ncols - 1);
	fputc('\n', out);
	for (f = 0; f < ncols; f++)
	{
		for (r = 0; r < width[f]; r++)
			fputc('-', out);
		if (f < ncols - 1)
			fputs("  ", out);
	}
	fputc('\n', out);
	for (r = 0; r < nrows; r++)
	{
		for (f = 0; f < ncols; f++)
			table_cell(out, PQgetvalue(res, r, f), width[f], table_numeric(res, f),
					   f == ncols - 1);
		fputc('\n', out);
	}
	if (nrows == 0)
		fputs("(no rows)\n", out);
	free(width);
}

void
table_print_record(FILE *out, PGresult *res, int row)
{
	int			ncols = PQnfields(res);
	int			width = 0;
	int			f;

	for (f = 0; f < ncols; f++)
		if (format_width(PQfname(res, f)) > width)
			width = format_width(PQfname(res, f));
	for (f = 0; f < ncols; f++)
	{
		if (PQgetisnull(res, row, f))
			continue;
		table_cell(out, PQfname(res, f), width, false, false);
		table_cell(out, PQgetvalue(res, row, f), 0, false, true);
		fputc('\n', out);
	}
}

void
table_query(Conn *c, bool json, const char *sql, int nparams,
			const char *const *params)
{
	PGresult   *res;

	if (json)
	{
		size_t		len = strlen(sql) + 128;
		char	   *wrapped = malloc(len);

		if (!wrapped)
			msg_fail(EXIT_SERVER, "out of memory");
		snprintf(wrapped, len,
				 "SELECT coalesce(json_agg(t), '[]'::json) FROM (%s) t", sql);
		res = conn_query(c, wrapped, nparams, params);
		printf("%s\n", PQgetvalue(res, 0, 0));
		free(wrapped);
	}
	else
	{
		res = conn_query(c, sql, nparams, params);
		table_print(stdout, res);
	}
	PQclear(res);
}
