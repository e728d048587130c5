/*-------------------------------------------------------------------------
 *
 * output.c
 *	  A run's output: the first row of the job's last statement turned into
 *	  a jsonb object (column name -> value), or whatever the job passed to
 *	  jobs.set_output().  Either is bounded by zapjobs.max_output_size.
 *
 *	  The receiver converts the row as it arrives (while its types are
 *	  valid) and copies the result into the job context, which outlives
 *	  transactions committed by the job itself; so is a value set.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "output.h"

static DestReceiver zj_output_dest;
/* The statement's result descriptor: the slot's may lack the column names. */
static TupleDesc zj_output_desc = NULL;
static MemoryContext zj_output_cxt = NULL;
static bool zj_output_row_seen = false;
static Jsonb *zj_output_row = NULL;

/* What the run set (jobs.set_output, ::output), if it did. */
static bool zj_output_was_set = false;
static Jsonb *zj_output_explicit = NULL;

static void
zj_output_push_jsonb(JsonbParseState **state, Jsonb *jb)
{
	JsonbValue	v;

	if (JB_ROOT_IS_SCALAR(jb))
		JsonbExtractScalar(&jb->root, &v);
	else
	{
		v.type = jbvBinary;
		v.val.binary.data = &jb->root;
		v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
	}
	pushJsonbValue(state, WJB_VALUE, &v);
}

static bool
zj_output_is_number(Oid type)
{
	return type == INT2OID || type == INT4OID || type == INT8OID ||
		type == FLOAT4OID || type == FLOAT8OID || type == NUMERICOID ||
		type == OIDOID;
}

/* Push one column value, keeping numbers, booleans and JSON as such. */
static void
zj_output_push_value(JsonbParseState **state, Datum value, Oid type)
{
	JsonbValue	v;
	Oid			outfunc;
	bool		varlena;
	char	   *text;

	if (type == JSONBOID)
		return zj_output_push_jsonb(state, DatumGetJsonbP(value));
	if (type == BOOLOID)
	{
		v.type = jbvBool;
		v.val.boolean = DatumGetBool(value);
		pushJsonbValue(state, WJB_VALUE, &v);
		return;
	}

	getTypeOutputInfo(type, &outfunc, &varlena);
	text = OidOutputFunctionCall(outfunc, value);
	if (type == JSONOID)
		return zj_output_push_jsonb(state,
									DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																	   CStringGetDatum(text))));
	if (zj_output_is_number(type) && strcmp(text, "NaN") != 0 &&
		strstr(text, "Infinity") == NULL)
	{
		v.type = jbvNumeric;
		v.val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
															CStringGetDatum(text),
															ObjectIdGetDatum(InvalidOid),
															Int32GetDatum(-1)));
	}
	else
	{
		v.type = jbvString;
		v.val.string.val = text;
		v.val.string.len = strlen(text);
	}
	pushJsonbValue(state, WJB_VALUE, &v);
}

static Jsonb *
zj_output_row_to_jsonb(TupleTableSlot *slot)
{
	TupleDesc	desc = zj_output_desc ? zj_output_desc : slot->tts_tupleDescriptor;
	JsonbParseState *state = NULL;
	JsonbValue *result;
	int			i;

	slot_getallattrs(slot);
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		JsonbValue	key;

		if (att->attisdropped)
			continue;
		key.type = jbvString;
		key.val.string.val = NameStr(att->attname);
		key.val.string.len = strlen(NameStr(att->attname));
		pushJsonbValue(&state, WJB_KEY, &key);
		if (slot->tts_isnull[i] || att->atttypid == VOIDOID)
		{
			JsonbValue	null;

			null.type = jbvNull;
			pushJsonbValue(&state, WJB_VALUE, &null);
		}
		else
			zj_output_push_value(&state, slot->tts_values[i], att->atttypid);
	}
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(result);
}

/* Replace an output larger than zapjobs.max_output_size by a note. */
Jsonb *
zj_output_bound(Jsonb *value)
{
	char		note[128];

	if (value == NULL || VARSIZE(value) <= (Size) zj_max_output_bytes)
		return value;
	snprintf(note, sizeof(note),
			 "{\"truncated\": true, \"size_bytes\": %zu, \"max_bytes\": %d}",
			 (Size) VARSIZE(value), zj_max_output_bytes);
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(note)));
}

static Jsonb *
zj_output_copy(Jsonb *value, MemoryContext cxt)
{
	Jsonb	   *copy = MemoryContextAlloc(cxt, VARSIZE(value));

	memcpy(copy, value, VARSIZE(value));
	return copy;
}

static bool
zj_output_receive(TupleTableSlot *slot, DestReceiver *self)
{
	if (!zj_output_row_seen)
	{
		zj_output_row_seen = true;
		zj_output_row = zj_output_copy(zj_output_bound(zj_output_row_to_jsonb(slot)),
									   zj_output_cxt);
	}
	return true;
}

static void
zj_output_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	zj_output_desc = typeinfo;
}

static void
zj_output_shutdown(DestReceiver *self)
{
	zj_output_desc = NULL;
}

static void
zj_output_noop(DestReceiver *self)
{
}

/* The receiver for every statement of a job; results go to job_cxt. */
DestReceiver *
zj_output_receiver(MemoryContext job_cxt)
{
	zj_output_dest.receiveSlot = zj_output_receive;
	zj_output_dest.rStartup = zj_output_startup;
	zj_output_dest.rShutdown = zj_output_shutdown;
	zj_output_dest.rDestroy = zj_output_noop;
	zj_output_dest.mydest = DestNone;
	zj_output_cxt = job_cxt;
	zj_output_reset();
	return &zj_output_dest;
}

/* A run starts: no output yet, and what it sets is kept in run_cxt. */
void
zj_output_begin_run(MemoryContext run_cxt)
{
	zj_output_cxt = run_cxt;
	zj_output_was_set = false;
	zj_output_explicit = NULL;
	zj_output_reset();
}

/* Forget the previous statement's row: only the last statement counts. */
void
zj_output_reset(void)
{
	zj_output_row_seen = false;
	zj_output_row = NULL;
}

/* The run's output: what it set, else its last statement's first row. */
Jsonb *
zj_output_result(void)
{
	return zj_output_was_set ? zj_output_explicit : zj_output_row;
}

/* The run sets its output (NULL: none), kept in the run's context. */
void
zj_output_set(Jsonb *value)
{
	zj_output_was_set = true;
	zj_output_explicit = value == NULL ? NULL :
		zj_output_copy(zj_output_bound(value), zj_output_cxt);
}
