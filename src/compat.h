/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every difference between PostgreSQL 14 and 17 that zapjobs depends on,
 *	  and nothing else.  Logic files use the names defined here.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_COMPAT_H
#define ZAPJOBS_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 140000
#error "zapjobs requires PostgreSQL 14 or later"
#endif

/* PG15 moved shared memory requests into shmem_request_hook. */
#if PG_VERSION_NUM >= 150000
#define ZJ_HAS_SHMEM_REQUEST_HOOK 1
#endif

/*
 * Backends that can call zapjobs functions.  MaxBackends is only set once
 * shared memory is requested (PG15 hook); PG14 requests space in _PG_init,
 * before it is computed, so derive it the way the server does.
 */
#ifdef ZJ_HAS_SHMEM_REQUEST_HOOK
#define zj_max_backends() (MaxBackends)
#else
#define zj_max_backends() \
	(MaxConnections + autovacuum_max_workers + 1 + max_worker_processes + \
	 max_wal_senders)
#endif

/* PG15 renamed pg_analyze_and_rewrite. */
#if PG_VERSION_NUM >= 150000
#define zj_analyze_and_rewrite(raw, sql) \
	pg_analyze_and_rewrite_fixedparams((raw), (sql), NULL, 0, NULL)
#else
#define zj_analyze_and_rewrite(raw, sql) \
	pg_analyze_and_rewrite((raw), (sql), NULL, 0, NULL)
#endif

/* PG14 needs an explicit call to signal listeners after a NOTIFY commit. */
#if PG_VERSION_NUM < 150000
#define zj_after_notify_commit() ProcessCompletedNotifies()
#else
#define zj_after_notify_commit() ((void) 0)
#endif

/* PG16 replaced the per-object aclcheck functions with object_aclcheck. */
#if PG_VERSION_NUM >= 160000
#define zj_database_aclcheck(dboid, roleid, mode) \
	object_aclcheck(DatabaseRelationId, (dboid), (roleid), (mode))
#else
#define zj_database_aclcheck(dboid, roleid, mode) \
	pg_database_aclcheck((dboid), (roleid), (mode))
#endif

#if PG_VERSION_NUM >= 160000
#define zj_database_ownercheck(dboid, roleid) \
	object_ownercheck(DatabaseRelationId, (dboid), (roleid))
#else
#define zj_database_ownercheck(dboid, roleid) \
	pg_database_ownercheck((dboid), (roleid))
#endif

/* PG17 renamed the backend's index into the PGPROC array. */
#if PG_VERSION_NUM >= 170000
#define zj_my_proc_number() (MyProcNumber)
#else
#define zj_my_proc_number() (MyProc->pgprocno)
#endif

/* PG15 added repeating timeouts and the pg_prng random generator. */
#if PG_VERSION_NUM >= 150000
#define ZJ_HAS_TIMEOUT_EVERY 1
#include "common/pg_prng.h"
#define zj_random_fraction() pg_prng_double(&pg_global_prng_state)
#else
#define zj_random_fraction() ((double) random() / ((double) MAX_RANDOM_VALUE + 1))
#endif

/* PG14 still has the old name of MarkGUCPrefixReserved. */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

#endif							/* ZAPJOBS_COMPAT_H */
