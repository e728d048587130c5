/*-------------------------------------------------------------------------
 * format.c
 *	  Text the zapjobs command shows: bars, durations, outcomes, and any
 *	  string from the database made safe for a terminal.
 *
 *	  A job chooses its names, messages and log lines, so they may hold
 *	  escape sequences (C0 or C1 controls), broken UTF-8 or wide
 *	  characters.  format_clean turns controls and invalid bytes into '?'
 *	  and measures text in screen columns (wcwidth), so a string can
 *	  neither change the terminal nor push a line past the screen.
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "format.h"
#include "msg.h"

void
format_bar(char *dst, size_t len, double percent, int width)
{
	bool		known = isfinite(percent) && percent >= 0;
	int			filled = 0;
	int			i;

	if (width < 1 || len < (size_t) width + 3)
	{
		if (len > 0)
			dst[0] = '\0';
		return;
	}
	if (known)
		filled = percent >= 100 ? width : (int) (percent * width / 100.0 + 0.5);
	dst[0] = '[';
	for (i = 0; i < width; i++)
		dst[i + 1] = !known ? ' ' : (i < filled ? '#' : '.');
	dst[width + 1] = ']';
	dst[width + 2] = '\0';
}

void
format_duration(char *dst, size_t len, double s)
{
	long		t;

	if (!isfinite(s) || s < 0)
	{
		snprintf(dst, len, "-");
		return;
	}
	if (s >= 100 * 86400.0)
	{
		snprintf(dst, len, ">99d");
		return;
	}
	t = (long) (s + 0.5);
	if (s < 10)
		snprintf(dst, len, "%.1fs", s);
	else if (t < 60)
		snprintf(dst, len, "%lds", t);
	else if (t < 3600)
		snprintf(dst, len, "%ldm%02lds", t / 60, t % 60);
	else if (t < 86400)
		snprintf(dst, len, "%ldh%02ldm", t / 3600, t % 3600 / 60);
	else
		snprintf(dst, len, "%ldd%02ldh", t / 86400, t % 86400 / 3600);
}

int
format_exit_code(const char *status)
{
	if (strcmp(status, "completed") == 0)
		return EXIT_RUN_COMPLETED;
	if (strcmp(status, "failed") == 0)
		return EXIT_RUN_FAILED;
	if (strcmp(status, "cancelled") == 0)
		return EXIT_RUN_CANCELLED;
	return -1;
}

/*
 * The UTF-8 character at s: its length in bytes and code point, or 0 if
 * the bytes there are not a whole, valid character.
 */
static int
format_char(const unsigned char *s, unsigned int *cp)
{
	int			n = s[0] < 0x80 ? 1 : s[0] >= 0xF0 && s[0] < 0xF5 ? 4 :
		s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 && s[0] < 0xE0 ? 2 : 0;
	int			i;

	if (n == 0)
		return 0;
	*cp = n == 1 ? s[0] : s[0] & (0x7F >> n);
	for (i = 1; i < n; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && *cp < 0x800) || (n == 4 && (*cp < 0x10000 || *cp > 0x10FFFF)) ||
		(*cp >= 0xD800 && *cp <= 0xDFFF))
		return 0;
	return n;
}

/* Columns a code point takes: controls and invalid bytes are shown as '?'. */
static int
format_columns(unsigned int cp)
{
	int			w = wcwidth((wchar_t) cp);

	return w < 0 ? 1 : w;
}

int
format_clean(char *dst, size_t len, const char *src, int max_cols)
{
	const unsigned char *s = (const unsigned char *) src;
	size_t		o = 0;
	int			cols = 0;

	while (*s && o + 1 < len)
	{
		unsigned int cp = 0;
		int			n = format_char(s, &cp);
		bool		control = n == 0 || cp < 0x20 || (cp >= 0x7F && cp < 0xA0);
		int			w = control ? 1 : format_columns(cp);

		if (cols + w > max_cols || o + (control ? 1 : n) >= len)
			break;
		if (control)
			dst[o++] = '?';
		else
		{
			memcpy(dst + o, s, n);
			o += n;
		}
		cols += w;
		s += n ? n : 1;
	}
	dst[o] = '\0';
	return cols;
}

int
format_width(const char *src)
{
	const unsigned char *s = (const unsigned char *) src;
	int			cols = 0;

	while (*s)
	{
		unsigned int cp = 0;
		int			n = format_char(s, &cp);

		cols += n == 0 || cp < 0x20 || (cp >= 0x7F && cp < 0xA0) ? 1 : format_columns(cp);
		s += n ? n : 1;
	}
	return cols;
}

int
format_fit(char *dst, size_t len, const char *src, int cols)
{
	int			used = format_clean(dst, len, src, cols);
	size_t		o = strlen(dst);

	while (used < cols && o + 1 < len)
	{
		dst[o++] = ' ';
		used++;
	}
	dst[o] = '\0';
	return used;
}
