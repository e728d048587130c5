/*-------------------------------------------------------------------------
 *
 * restore.h
 *	  A restore into a database zapjobs serves (restore.c): runs held
 *	  until the restoring session ends.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_RESTORE_H
#define ZAPJOBS_RESTORE_H

#include "zapjobs.h"

extern bool zj_restore_under_way(void);
extern bool zj_restore_none(void);

#endif							/* ZAPJOBS_RESTORE_H */
