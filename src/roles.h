/*-------------------------------------------------------------------------
 *
 * roles.h
 *	  What a role may do with zapjobs (roles.c): own runs, run shell jobs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_ROLES_H
#define ZAPJOBS_ROLES_H

#include "zapjobs.h"

typedef enum ZjRoleProblem
{
	ZJ_ROLE_OK = 0,
	ZJ_ROLE_MISSING,			/* dropped */
	ZJ_ROLE_NOLOGIN,			/* NOLOGIN */
	ZJ_ROLE_NOCONNECT			/* no CONNECT on the jobs database */
} ZjRoleProblem;

extern ZjRoleProblem zj_roles_check(Oid role, char **name);
extern void zj_roles_check_shell(Oid role, bool at_start);

#endif							/* ZAPJOBS_ROLES_H */
