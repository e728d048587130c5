/*-------------------------------------------------------------------------
 *
 * roles.c
 *	  Can a role have a session in the jobs database?  A worker logs in as
 *	  the owner of the runs it executes, so enqueue refuses owners that
 *	  could not, the launcher fails the runs of owners that no longer can,
 *	  and a connected worker leaves when its role lost the right.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/syscache.h"

#include "zapjobs.h"

/* Check in the current database; *name gets the role's name if it exists. */
ZjRoleProblem
zj_role_check(Oid role, char **name)
{
	HeapTuple	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(role));
	Form_pg_authid form;
	ZjRoleProblem problem = ZJ_ROLE_OK;

	if (!HeapTupleIsValid(tup))
	{
		if (name)
			*name = psprintf("%u", role);
		return ZJ_ROLE_MISSING;
	}
	form = (Form_pg_authid) GETSTRUCT(tup);
	if (name)
		*name = pstrdup(NameStr(form->rolname));
	if (!form->rolcanlogin)
		problem = ZJ_ROLE_NOLOGIN;
	else if (!form->rolsuper &&
			 zj_database_aclcheck(MyDatabaseId, role, ACL_CONNECT) != ACLCHECK_OK)
		problem = ZJ_ROLE_NOCONNECT;
	ReleaseSysCache(tup);
	return problem;
}
