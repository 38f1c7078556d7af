/* SPDX-License-Identifier: MIT */
/* The grant commands of pertok and pertokctl (grant-cmd.c). Each runs with
 * argv[0] = its own name and returns an exit code. */
#pragma once

#include <stdio.h>

#include "toolutil.h"

/* pertok grant SERVICER ... | grant revoke|delegate|request|requests|approve|deny */
int grant_cmd_user(int argc, char **argv, void (*usage)(FILE *f), struct tool_conn *conn);
/* grant SERVICER --cmd PATH --expires D ... */
int grant_cmd_create(int argc, char **argv, void (*usage)(FILE *f), struct tool_conn *conn);
/* grant revoke ID (pertok: the origin's; pertokctl: root's) */
int grant_cmd_revoke(int argc, char **argv, void (*usage)(FILE *f), struct tool_conn *conn);
/* grants [--user U] [--servicer S] */
int grant_cmd_list(int argc, char **argv, void (*usage)(FILE *f), struct tool_conn *conn);
/* explain act-as USER --servicer S --grant ID -- CMD ARGS... (exit 1 on deny) */
int grant_cmd_explain(int argc, char **argv, void (*usage)(FILE *f), struct tool_conn *conn);
