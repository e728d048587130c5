/*-------------------------------------------------------------------------
 *
 * version.h
 *	  The schema version this library needs (version.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_VERSION_H
#define ZAPJOBS_VERSION_H

/* default_version of zapjobs.control: the newest update script's target */
#define ZJ_SCHEMA_VERSION "1.5"

extern char *zj_version_installed(void);
extern void zj_version_check(const char *what);

#endif							/* ZAPJOBS_VERSION_H */
