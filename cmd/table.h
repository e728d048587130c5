/*-------------------------------------------------------------------------
 * table.h
 *	  Query results as the zapjobs command prints them: aligned tables
 *	  for people, the server's JSON for scripts.
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_TABLE_H
#define ZJC_TABLE_H

#include <stdio.h>

#include "conn.h"

/* Print a result as an aligned table with a header line; "(no rows)" if empty. */
extern void table_print(FILE *out, PGresult *res);

/* Print one row as "column  value" lines. */
extern void table_print_record(FILE *out, PGresult *res, int row);

/*
 * Run sql and print its rows: a table, or with json a JSON array the
 * server builds (one object per row).
 */
extern void table_query(Conn *c, bool json, const char *sql, int nparams,
						const char *const *params);

#endif
