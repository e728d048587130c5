/*-------------------------------------------------------------------------
 *
 * roles.c
 *	  Can a role have a session in the jobs database?  A worker logs in as
 *	  the owner of the runs it executes, so enqueue refuses owners that
 *	  could not, the launcher fails the runs of owners that no longer can,
 *	  and a connected worker leaves when its role lost the right.
 *
 *	  May a role run shell jobs?  They run as the server's operating-system
 *	  user: only superusers and members of pg_execute_server_program may
 *	  enqueue them, and membership is checked again when the run starts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "roles.h"

/* Check in the current database; *name gets the role's name if it exists. */
ZjRoleProblem
zj_roles_check(Oid role, char **name)
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

/* May role run shell jobs now?  Raises the reason if not. */
void
zj_roles_check_shell(Oid role, bool at_start)
{
	if (!zj_shell_enabled)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("shell jobs are disabled"),
				 errhint("A superuser can enable them with zapjobs.shell_enabled.")));
	if (has_privs_of_role(role, ROLE_PG_EXECUTE_SERVER_PROGRAM))
		return;
	if (at_start)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may no longer run shell jobs",
						GetUserNameFromId(role, false)),
				 errdetail("It is no longer a member of pg_execute_server_program.")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to enqueue shell jobs"),
			 errdetail("Shell jobs run as the database server's operating-system user."),
			 errhint("Only superusers and members of pg_execute_server_program may enqueue them.")));
}
