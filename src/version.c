/*-------------------------------------------------------------------------
 *
 * version.c
 *	  Which version of the schema (the extension's SQL objects) this
 *	  library works with, and whether a database has it.  Every schema
 *	  change comes with an update script, and this library's statements
 *	  name the newest objects: with an older schema installed, the launcher
 *	  serves nothing and says why (launcher.c), and the SQL functions that
 *	  write runs refuse with a hint, until ALTER EXTENSION zapjobs UPDATE.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "shmem.h"
#include "version.h"

/* The version of zapjobs installed in this database, or NULL. */
char *
zj_version_installed(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(ZJ_EXTENSION_NAME));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/*
 * Before a function writes runs: the schema must be this library's.  The
 * launcher serving this database has checked that already (it serves only
 * a current schema); otherwise read the catalog.
 */
void
zj_version_check(const char *what)
{
	char	   *installed;

	if (zj_shmem_ready() && zj_shmem_my_db(false) != NULL &&
		OidIsValid(zj_db->extension))
		return;
	installed = zj_version_installed();
	if (installed == NULL || strcmp(installed, ZJ_SCHEMA_VERSION) == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s needs version %s of the zapjobs schema; this database has version %s",
					what, ZJ_SCHEMA_VERSION, installed),
			 errhint("Run ALTER EXTENSION zapjobs UPDATE.")));
}
