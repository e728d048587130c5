/*-------------------------------------------------------------------------
 * format.c
 *	  Text the zapjobs command shows for numbers and states.
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "format.h"
#include "msg.h"

void
format_bar(char *dst, size_t len, double percent, int width)
{
	int			filled;
	int			i;

	if (width < 1 || len < (size_t) width + 3)
	{
		if (len > 0)
			dst[0] = '\0';
		return;
	}
	filled = percent < 0 ? 0 : (int) (percent * width / 100.0 + 0.5);
	if (filled > width)
		filled = width;
	dst[0] = '[';
	for (i = 0; i < width; i++)
		dst[i + 1] = percent < 0 ? ' ' : (i < filled ? '#' : '.');
	dst[width + 1] = ']';
	dst[width + 2] = '\0';
}

void
format_duration(char *dst, size_t len, double s)
{
	long		t = (long) (s + 0.5);

	if (s < 0)
		snprintf(dst, len, "-");
	else if (s < 10)
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

int
format_clean(char *dst, size_t len, const char *src, int max_chars)
{
	size_t		o = 0;
	int			chars = 0;

	for (; *src && o + 1 < len; src++)
	{
		unsigned char ch = (unsigned char) *src;

		if ((ch & 0xC0) != 0x80)
		{
			/* a new character: stop if it would not fit whole */
			if (chars == max_chars ||
				(ch >= 0xC0 && o + (ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : 2) >= len))
				break;
			chars++;
		}
		dst[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char) ch;
	}
	dst[o] = '\0';
	return chars;
}
