/* SPDX-License-Identifier: MIT */
/* pertok grant --request/--sign/--signed-request (grantsig-cmd.c). */
#pragma once

#include <stdbool.h>
#include <stdio.h>

struct tool_conn;

/* Does this grant command line ask for a signed request (--request,
 * --sign, --signed-request)? */
bool grantsig_wanted(int argc, char **argv);
/* pertok grant credential ID: prints the grant's credential (the servicer
 * presents it instead of the id; tokend/grant-cred.h). Exit code. */
int grantcred_cmd(int argc, char **argv, void (*usage)(FILE *f), struct tool_conn *conn);
/* Runs it: exit code. */
int grantsig_cmd(int argc, char **argv, void (*usage)(FILE *f), struct tool_conn *conn);
