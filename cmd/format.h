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
 * Copy src for a terminal: control characters (escape codes a job could
 * print) become '?', and at most max_chars characters are kept, cut on a
 * character boundary.  Returns the characters copied.
 */
extern int	format_clean(char *dst, size_t len, const char *src, int max_chars);

#endif
