/* SPDX-License-Identifier: MIT */
/* What pertok and pertokctl share: options, one request to tokend, output. */
#pragma once

struct json_object;

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Exit codes (pertok(1), pertokctl(8)). */
enum {
	TOOL_EXIT_OK = 0,
	TOOL_EXIT_REFUSED = 1, /* tokend refused, or the request failed here */
	TOOL_EXIT_USAGE = 2,
	TOOL_EXIT_UNREACHABLE = 3, /* cannot reach tokend */
};

#define TOOL_TIMEOUT_DEFAULT 3000
#define TOOL_TIMEOUT_MAX 300000

struct tool_conn {
	const char *socket; /* NULL = pt_default_socket() */
	int timeout_ms;
};

/* Messages on stderr, prefixed with the program's name. */
void tool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tool_version(void);

/* The options every command takes, before or after the command's name. */
#define TOOL_COMMON_SHORTOPTS "s:t:hV"
extern const struct option tool_common_longopts[];

/* After getopt_long returned '?' or ':' (optstring starting with ':',
 * opterr = 0): prints what was wrong and a hint. command may be NULL. */
void tool_bad_option(int c, char **argv, const char *command);

/* Parses a command's options (argv[0] is the command's name): its own
 * (shortopts, longopts[0..n_longopts), each passed to handle, which returns
 * 0 or -EINVAL after printing why) plus the common ones. Returns -1 when the
 * command should run (optind indexes its operands), else an exit code
 * (--help, --version: 0; bad option: 2). */
int tool_parse_command(int argc, char **argv, const char *shortopts, const struct option *longopts,
		       size_t n_longopts, int (*handle)(int c, const char *arg, void *u), void *u,
		       void (*usage)(FILE *f), struct tool_conn *conn);

/* Handles the options every command takes (-s/--socket, -t/--timeout):
 * returns 1 when c was one of them, 0 when not, -EINVAL (printed) for a
 * bad value. */
int tool_common_option(int c, const char *arg, struct tool_conn *conn);

/* Connects, sends req and reads the reply. Returns TOOL_EXIT_OK with the
 * PT_OK reply in *ret (caller pt_rep_clear()s), or an exit code after
 * printing why ("tokend: MESSAGE" for a refusal). */
int tool_call(const struct tool_conn *conn, const struct pt_req *req, struct pt_rep *ret);

/* ISO 8601 UTC ("2025-01-31T12:00:00Z"); "-" for 0. Returns buf. */
const char *tool_time(uint64_t t, char *buf, size_t n);

/* Prints a PT_LIST reply: an aligned table (ID USER UID HOLDER ACTOR
 * ISSUED EXPIRES LAST-USED USES) or a JSON array. Returns an exit code. */
int tool_print_list(const struct pt_rep *rep, bool json);

/* Prints a JSON text pretty (json-c). Returns an exit code. */
int tool_print_json_pretty(const char *text);
/* Prints o pretty and frees it; NULL (a failed build): "out of memory".
 * The exit code. */
int tool_print_json_object(struct json_object *o);

/* A getopt handler for a command whose one option is a flag: sets *(bool *)u. */
int tool_opt_flag(int c, const char *arg, void *u);

/* Prints text, ending it with a newline when it lacks one. */
void tool_print_text(const char *text);

/* Sends req and prints the reply's text. Returns an exit code. */
int tool_call_text(const struct tool_conn *conn, const struct pt_req *req);

/* Sends a PT_REVOKE (req->id: "revoked ID", or "no token ID" and
 * TOOL_EXIT_REFUSED when there is none) or a PT_REVOKE_MATCH ("revoked N
 * tokens"). Returns an exit code. */
int tool_revoke(const struct tool_conn *conn, const struct pt_req *req);

struct tool_command {
	const char *name;
	int (*run)(int argc, char **argv, struct tool_conn *conn);
};

/* A tool's main(): the common options before the command, then the command
 * named by the first operand runs with argv[0] = its name. Returns the exit
 * code. */
int tool_main(int argc, char **argv, const struct tool_command *commands, size_t n_commands,
	      void (*usage)(FILE *f));

/* A whole file of at most max bytes, NUL-terminated in *ret (malloc'd); a
 * larger one is -EFBIG (never cut short). 0 or -errno. */
int tool_read_file(const char *path, size_t max, char **ret, size_t *ret_len);
