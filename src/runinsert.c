/*-------------------------------------------------------------------------
 *
 * runinsert.c
 *	  A new run's row written straight into jobs.runs and its indexes, as
 *	  logical replication's apply does, for the common enqueue (no
 *	  dedupe_key, not cancelled at birth).  An SPI INSERT costs an
 *	  executor start per call: a bookkeeping scope (search_path set and
 *	  reset), opening every index of jobs.runs and building its
 *	  IndexInfo, compiling each partial index's predicate, and the
 *	  RETURNING projection.  Here the column map, the defaults and the
 *	  indexes' predicates are prepared once per backend and kept until a
 *	  relcache invalidation of the table (ALTER TABLE, CREATE or DROP
 *	  INDEX, an update of the extension); each insert only locks and
 *	  opens the relations, as the executor would.
 *
 *	  The table must stay within what this writes correctly: no row
 *	  triggers, CHECK constraints or generated columns, indexes without
 *	  expressions, exclusion or deferred uniqueness, and each column this
 *	  fills of the type it expects.  Otherwise the caller's SPI INSERT
 *	  runs instead (zj_runinsert_row returns false).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "parser/parse_relation.h"
#include "rewrite/rewriteHandler.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "runinsert.h"

/* What the cache knows of jobs.runs, valid until a relcache invalidation. */
typedef struct ZjInsertCache
{
	bool		valid;
	bool		usable;			/* false: the caller inserts with SQL */
	Oid			relid;
	int			id_att;			/* attno - 1 of the id its default gives */
	MemoryContext cxt;
	EState	   *estate;			/* long-lived, for defaults and predicates */
	int			natts;
	int		   *param_of;		/* attno - 1 -> parameter, or -1 */
	ExprState **defaults;		/* attno - 1 -> its default, or NULL */
	int			nindexes;
	Oid		   *index_oids;
	IndexInfo **index_info;		/* predicates prepared */
} ZjInsertCache;

static ZjInsertCache zj_insert = {false};
static bool zj_insert_callback_registered = false;

/*
 * Invalidations seen: one that comes while the cache is being built (the
 * indexes' locks accept them) leaves it invalid.
 */
static uint64 zj_insert_invalidations = 0;

/* Any change of jobs.runs (or of every relation) drops the cache. */
static void
zj_runinsert_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == zj_insert.relid)
	{
		zj_insert.valid = false;
		zj_insert_invalidations++;
	}
}

/* Map each column to the parameter that fills it; false if a type differs. */
static bool
zj_runinsert_map_columns(Relation rel, const char *const *names,
						 const Oid *types, int nparams)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			p;

	zj_insert.natts = desc->natts;
	zj_insert.param_of = palloc(desc->natts * sizeof(int));
	zj_insert.defaults = palloc0(desc->natts * sizeof(ExprState *));
	memset(zj_insert.param_of, -1, desc->natts * sizeof(int));
	for (p = 0; p < desc->natts; p++)
		if (get_typtype(TupleDescAttr(desc, p)->atttypid) == TYPTYPE_DOMAIN)
			return false;		/* its checks are the executor's */
	for (p = 0; p < nparams; p++)
	{
		AttrNumber	att = attnameAttNum(rel, names[p], false);

		if (att <= 0 || TupleDescAttr(desc, att - 1)->atttypid != types[p])
			return false;
		zj_insert.param_of[att - 1] = p;
	}
	zj_insert.id_att = attnameAttNum(rel, "id", false) - 1;
	return zj_insert.id_att >= 0 && zj_insert.param_of[zj_insert.id_att] < 0 &&
		TupleDescAttr(desc, zj_insert.id_att)->atttypid == INT8OID;
}

/* Prepare the defaults of the columns no parameter fills. */
static void
zj_runinsert_prepare_defaults(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Node	   *def;

		if (TupleDescAttr(desc, i)->attisdropped || zj_insert.param_of[i] >= 0)
			continue;
		def = build_column_default(rel, i + 1);
		if (def != NULL)
			zj_insert.defaults[i] = ExecPrepareExpr((Expr *) def, zj_insert.estate);
	}
}

/* Build each index's IndexInfo and predicate; false for an index we cannot fill. */
static bool
zj_runinsert_prepare_indexes(Relation rel)
{
	List	   *oids = RelationGetIndexList(rel);
	ListCell   *lc;

	zj_insert.nindexes = 0;
	zj_insert.index_oids = palloc(Max(list_length(oids), 1) * sizeof(Oid));
	zj_insert.index_info = palloc(Max(list_length(oids), 1) * sizeof(IndexInfo *));
	foreach(lc, oids)
	{
		Relation	index = index_open(lfirst_oid(lc), RowExclusiveLock);
		IndexInfo  *info = BuildIndexInfo(index);

		/*
		 * B-trees only: others keep state in ii_AmCache that points into
		 * the index's relcache entry, which does not outlive a transaction.
		 */
		bool		ok = index->rd_rel->relam == BTREE_AM_OID &&
			info->ii_Expressions == NIL && info->ii_ExclusionOps == NULL &&
			(!info->ii_Unique || index->rd_index->indimmediate);

		if (ok && info->ii_Predicate != NIL)
			info->ii_PredicateState = ExecPrepareQual(info->ii_Predicate, zj_insert.estate);
		index_close(index, NoLock);
		if (!ok)
			return false;
		zj_insert.index_oids[zj_insert.nindexes] = lfirst_oid(lc);
		zj_insert.index_info[zj_insert.nindexes++] = info;
	}
	return true;
}

/* Is trigger t ours (jobs._restoring, which does nothing for our writes)? */
static bool
zj_runinsert_trigger_ours(const Trigger *t)
{
	char	   *name = get_func_name(t->tgfoid);
	char	   *schema = get_namespace_name(get_func_namespace(t->tgfoid));

	return name != NULL && schema != NULL &&
		strcmp(name, "_restoring") == 0 && strcmp(schema, "jobs") == 0;
}

/* No rule, trigger of INSERT but ours, CHECK or generated column. */
static bool
zj_runinsert_table_plain(Relation rel)
{
	TriggerDesc *trig = rel->trigdesc;
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	int			i;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rules != NULL)
		return false;
	if (constr != NULL && (constr->num_check > 0 || constr->has_generated_stored))
		return false;
	for (i = 0; trig != NULL && i < trig->numtriggers; i++)
		if (TRIGGER_FOR_INSERT(trig->triggers[i].tgtype) &&
			!zj_runinsert_trigger_ours(&trig->triggers[i]))
			return false;
	return true;
}

/* (Re)build the cache for the open jobs.runs; sets zj_insert.usable. */
static void
zj_runinsert_build(Relation rel, const char *const *names, const Oid *types,
				   int nparams)
{
	MemoryContext old;
	uint64		seen = zj_insert_invalidations;

	zj_insert.valid = false;
	if (zj_insert.cxt != NULL)
		MemoryContextDelete(zj_insert.cxt);
	zj_insert.cxt = NULL;
	zj_insert.relid = RelationGetRelid(rel);
	zj_insert.cxt = AllocSetContextCreate(CacheMemoryContext, "zapjobs insert",
										  ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(zj_insert.cxt);
	zj_insert.estate = CreateExecutorState();
	zj_insert.usable = zj_runinsert_table_plain(rel) &&
		zj_runinsert_map_columns(rel, names, types, nparams) &&
		zj_runinsert_prepare_indexes(rel);
	if (zj_insert.usable)
		zj_runinsert_prepare_defaults(rel);
	zj_insert.usable = zj_insert.usable && zj_insert.defaults[zj_insert.id_att] != NULL;
	/* Good for this insert (index DDL waits for our lock), not the next. */
	zj_insert.valid = zj_insert_invalidations == seen;
	MemoryContextSwitchTo(old);
}

/* Fill the slot: the parameters, then each other column's default. */
static void
zj_runinsert_fill(Relation rel, TupleTableSlot *slot, const Datum *values,
				  const char *nulls)
{
	ExprContext *econtext = GetPerTupleExprContext(zj_insert.estate);
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	ExecClearTuple(slot);
	for (i = 0; i < zj_insert.natts; i++)
	{
		int			p = zj_insert.param_of[i];

		slot->tts_isnull[i] = true;
		slot->tts_values[i] = (Datum) 0;
		if (p >= 0 && nulls[p] != 'n')
		{
			slot->tts_values[i] = values[p];
			slot->tts_isnull[i] = false;
		}
		else if (p < 0 && zj_insert.defaults[i] != NULL)
			slot->tts_values[i] = ExecEvalExprSwitchContext(zj_insert.defaults[i], econtext,
															&slot->tts_isnull[i]);
		if (slot->tts_isnull[i] && TupleDescAttr(desc, i)->attnotnull)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("null value in column \"%s\" of relation \"%s\" violates not-null constraint",
							NameStr(TupleDescAttr(desc, i)->attname),
							RelationGetRelationName(rel))));
	}
	ExecStoreVirtualTuple(slot);
}

/* Insert the slot's row into every index it belongs in. */
static void
zj_runinsert_indexes(Relation rel, TupleTableSlot *slot)
{
	ExprContext *econtext = GetPerTupleExprContext(zj_insert.estate);
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	int			i;

	econtext->ecxt_scantuple = slot;
	for (i = 0; i < zj_insert.nindexes; i++)
	{
		IndexInfo  *info = zj_insert.index_info[i];
		Relation	index;

		if (info->ii_PredicateState != NULL && !ExecQual(info->ii_PredicateState, econtext))
			continue;
		index = index_open(zj_insert.index_oids[i], RowExclusiveLock);
		/* An index built concurrently takes rows once it is ready. */
		if (index->rd_index->indisready)
		{
			FormIndexDatum(info, slot, zj_insert.estate, values, isnull);
			index_insert(index, values, isnull, &slot->tts_tid, rel,
						 info->ii_Unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
						 false, info);
		}
		index_close(index, NoLock);
	}
	econtext->ecxt_scantuple = NULL;
}

/*
 * Insert a row into relid (jobs.runs) whose columns names[i] (of types[i])
 * are values[i] (NULL where nulls[i] is 'n') and the others their
 * defaults, and set *id to its id; false if the table is not one this can
 * write: then the caller inserts with SQL.
 */
bool
zj_runinsert_row(Oid relid, const char *const *names, const Oid *types,
				 int nparams, const Datum *values, const char *nulls, int64 *id)
{
	Relation	rel;
	TupleTableSlot *slot;
	Oid			saved_user;
	int			saved_sec;

	if (!zj_insert_callback_registered)
	{
		CacheRegisterRelcacheCallback(zj_runinsert_invalidate, (Datum) 0);
		zj_insert_callback_registered = true;
	}
	rel = table_open(relid, RowExclusiveLock);
	/* Prepared and evaluated as our SQL would be: by zapjobs, restricted. */
	GetUserIdAndSecContext(&saved_user, &saved_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, saved_sec |
						   SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	if (!zj_insert.valid || zj_insert.relid != relid ||
		zj_insert.natts != RelationGetDescr(rel)->natts)
		zj_runinsert_build(rel, names, types, nparams);
	if (!zj_insert.usable)
	{
		SetUserIdAndSecContext(saved_user, saved_sec);
		table_close(rel, NoLock);
		return false;
	}
	slot = table_slot_create(rel, NULL);
	zj_runinsert_fill(rel, slot, values, nulls);
	SetUserIdAndSecContext(saved_user, saved_sec);
	*id = DatumGetInt64(slot->tts_values[zj_insert.id_att]);
	table_tuple_insert(rel, slot, GetCurrentCommandId(true), 0, NULL);
	zj_runinsert_indexes(rel, slot);
	ExecDropSingleTupleTableSlot(slot);
	ResetPerTupleExprContext(zj_insert.estate);
	table_close(rel, NoLock);
	/* Later statements of the transaction see the run, as after SPI. */
	CommandCounterIncrement();
	return true;
}
