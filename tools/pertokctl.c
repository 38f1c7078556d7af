/* SPDX-License-Identifier: MIT */
/*
 * pertokctl: the administrator's tool. Lists and revokes persistable tokens
 * of every user, prints tokend's public key and status.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "toolutil.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"Commands:\n"
		"  list [--user USER] [--json]   list persistable tokens (all, or USER's)\n"
		"  revoke ID                     revoke a persistable token\n"
		"  pubkey [--jwks]               print tokend's public key (PEM, or a JWK set)\n"
		"  status                        print tokend's status\n"
		"\n"
		"Options:\n"
		"  -s, --socket PATH             tokend's socket (default %s)\n"
		"  -t, --timeout MS              timeout per request (default %d)\n"
		"  -h, --help                    show this help\n"
		"  -V, --version                 show the version\n"
		"\n"
		"Exit status: 0 ok, 1 refused or failed, 2 usage, 3 cannot reach tokend.\n",
		program_invocation_short_name, pt_default_socket(), TOOL_TIMEOUT_DEFAULT);
}

/* Prints text, ending it with a newline when it lacks one. */
static void print_text(const char *text)
{
	size_t n = text ? strlen(text) : 0;

	if (n == 0)
		return;
	fputs(text, stdout);
	if (text[n - 1] != '\n')
		fputc('\n', stdout);
}

/* ---------------------------------------------------------------- list */

struct list_opts {
	const char *user;
	bool json;
};

static int opt_list(int c, const char *arg, void *u)
{
	struct list_opts *l = u;

	switch (c) {
	case 'u':
		if (!pt_name_valid(arg)) {
			tool_err("invalid user name: %s", arg);
			return -EINVAL;
		}
		l->user = arg;
		return 0;
	case 'j':
		l->json = true;
		return 0;
	default:
		return -EINVAL;
	}
}

static int cmd_list(int argc, char **argv, struct tool_conn *conn)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
	};
	struct list_opts l = {};
	struct pt_req req = { .type = PT_LIST };
	struct pt_rep rep = {};
	int code;

	code = tool_parse_command(argc, argv, "u:j", opts, PT_ELEMENTSOF(opts), opt_list, &l, usage,
				  conn);
	if (code >= 0)
		return code;
	if (optind != argc) {
		tool_err("usage: list [--user USER] [--json]");
		return TOOL_EXIT_USAGE;
	}
	req.user = (char *)(l.user ? l.user : "");
	code = tool_call(conn, &req, &rep);
	if (code == TOOL_EXIT_OK)
		code = tool_print_list(&rep, l.json);
	pt_rep_clear(&rep);
	return code;
}

/* ---------------------------------------------------------------- revoke */

static int cmd_revoke(int argc, char **argv, struct tool_conn *conn)
{
	struct pt_req req = { .type = PT_REVOKE };
	struct pt_rep rep = {};
	int code;

	code = tool_parse_command(argc, argv, "", NULL, 0, NULL, NULL, usage, conn);
	if (code >= 0)
		return code;
	if (optind + 1 != argc || !pt_name_valid(argv[optind])) {
		tool_err("usage: revoke ID");
		return TOOL_EXIT_USAGE;
	}
	req.id = argv[optind];
	code = tool_call(conn, &req, &rep);
	if (code == TOOL_EXIT_OK) {
		if (rep.count == 0) {
			tool_err("no token %s", req.id);
			code = TOOL_EXIT_REFUSED;
		} else
			printf("revoked %s\n", req.id);
	}
	pt_rep_clear(&rep);
	return code;
}

/* ---------------------------------------------------------------- pubkey */

static int opt_jwks(int c, const char *arg, void *u)
{
	if (c != 'j')
		return -EINVAL;
	*(bool *)u = true;
	return 0;
}

static int cmd_pubkey(int argc, char **argv, struct tool_conn *conn)
{
	static const struct option opts[] = { { "jwks", no_argument, NULL, 'j' } };
	struct pt_req req = { .type = PT_PUBKEY };
	struct pt_rep rep = {};
	bool jwks = false;
	int code;

	code = tool_parse_command(argc, argv, "j", opts, PT_ELEMENTSOF(opts), opt_jwks, &jwks,
				  usage, conn);
	if (code >= 0)
		return code;
	if (optind != argc) {
		tool_err("usage: pubkey [--jwks]");
		return TOOL_EXIT_USAGE;
	}
	req.format = jwks ? PT_PUBKEY_JWKS : PT_PUBKEY_PEM;
	code = tool_call(conn, &req, &rep);
	if (code == TOOL_EXIT_OK) {
		if (jwks)
			code = tool_print_json_pretty(rep.text ? rep.text : "");
		else
			print_text(rep.text);
	}
	pt_rep_clear(&rep);
	return code;
}

/* ---------------------------------------------------------------- status */

static int cmd_status(int argc, char **argv, struct tool_conn *conn)
{
	struct pt_req req = { .type = PT_STATUS };
	struct pt_rep rep = {};
	int code;

	code = tool_parse_command(argc, argv, "", NULL, 0, NULL, NULL, usage, conn);
	if (code >= 0)
		return code;
	if (optind != argc) {
		tool_err("status takes no arguments");
		return TOOL_EXIT_USAGE;
	}
	code = tool_call(conn, &req, &rep);
	if (code == TOOL_EXIT_OK)
		print_text(rep.text);
	pt_rep_clear(&rep);
	return code;
}

/* ---------------------------------------------------------------- main */

static const struct {
	const char *name;
	int (*run)(int argc, char **argv, struct tool_conn *conn);
} commands[] = {
	{ "list", cmd_list },
	{ "revoke", cmd_revoke },
	{ "pubkey", cmd_pubkey },
	{ "status", cmd_status },
};

int main(int argc, char **argv)
{
	struct tool_conn conn = { .socket = NULL, .timeout_ms = TOOL_TIMEOUT_DEFAULT };
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:" TOOL_COMMON_SHORTOPTS, tool_common_longopts,
				NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return TOOL_EXIT_OK;
		case 'V':
			tool_version();
			return TOOL_EXIT_OK;
		default:
			r = tool_common_option(c, optarg, &conn);
			if (r < 0)
				return TOOL_EXIT_USAGE;
			if (r == 0) {
				tool_bad_option(c, argv, NULL);
				return TOOL_EXIT_USAGE;
			}
		}
	}
	if (optind >= argc) {
		tool_err("missing command");
		usage(stderr);
		return TOOL_EXIT_USAGE;
	}
	for (size_t i = 0; i < PT_ELEMENTSOF(commands); i++)
		if (strcmp(argv[optind], commands[i].name) == 0)
			return commands[i].run(argc - optind, argv + optind, &conn);
	tool_err("unknown command: %s", argv[optind]);
	fprintf(stderr, "Try '%s --help'.\n", program_invocation_short_name);
	return TOOL_EXIT_USAGE;
}
