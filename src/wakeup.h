/*-------------------------------------------------------------------------
 *
 * wakeup.h
 *	  Waking zapjobs processes: at once (wakeup.c), or when the current
 *	  transaction commits (the zj_wakeup_note_* functions).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_WAKEUP_H
#define ZAPJOBS_WAKEUP_H

#include "zapjobs.h"

#include "datatype/timestamp.h"

extern void zj_wakeup_launcher(void);
extern void zj_wakeup_maintenance(void);
extern void zj_wakeup_idle_workers(void);
extern void zj_wakeup_interrupt_run(int64 run_id);
extern void zj_wakeup_worker_idle(void);
extern void zj_wakeup_slot_wanters(void);

extern void zj_wakeup_note_enqueue(Oid owner, int64 runs, int32 priority,
								   TimestampTz run_at);
extern void zj_wakeup_note_scheduled(TimestampTz run_at);
extern void zj_wakeup_note_cancel(int64 run_id);
extern void zj_wakeup_note_limits(void);

#endif							/* ZAPJOBS_WAKEUP_H */
