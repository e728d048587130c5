/*-------------------------------------------------------------------------
 * format.h
 *	  Progress bars, durations and run outcomes as the zapjobs command
 *	  writes them, the same in watch and top.
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_FORMAT_H
#define ZJC_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

/* A bar of width cells for percent (< 0: unknown), "[#####.....]". */
extern void format_bar(char *dst, size_t len, double percent, int width);

/* Seconds as "0.8s", "42s", "3m05s", "2h04m", "3d02h"; "-" when < 0. */
extern void format_duration(char *dst, size_t len, double seconds);

/* The exit code of watch for a final status; -1 if not final. */
extern int	format_exit_code(const char *status);

/*
 * Copy src for a terminal: control characters (C0 and C1: escape codes a
 * job could print) and invalid UTF-8 become '?', and at most max_cols
 * screen columns are kept, cut on a character boundary.  Returns the
 * columns used.
 */
extern int	format_clean(char *dst, size_t len, const char *src, int max_cols);

/* Columns src takes once cleaned. */
extern int	format_width(const char *src);

/* format_clean, then padded with spaces to exactly cols columns. */
extern int	format_fit(char *dst, size_t len, const char *src, int cols);

#endif
