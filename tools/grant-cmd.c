/* SPDX-License-Identifier: MIT */
/*
 * The grant commands (issue 11): pertok grant / grants, pertokctl grants /
 * grant revoke / explain act-as. A grant's scope is read from the same
 * options everywhere (grant_scope_parse).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grant-cmd.h"
#include "util.h"

struct scope {
	struct pt_grant_spec spec;
	struct pt_grant_wire_cmd cmd;
	bool have_cmd, args, args_prefix;
	struct pt_grant_wire_path paths[PT_MAX_GRANT_PATHS];
	/* pertokctl */
	const char *user, *servicer, *grant;
};

static const struct option scope_opts[] = {
	{ "cmd", required_argument, NULL, 'c' },
	{ "args", no_argument, NULL, 'a' },
	{ "args-prefix", no_argument, NULL, 'P' },
	{ "expires", required_argument, NULL, 'e' },
	{ "uses", required_argument, NULL, 'n' },
	{ "hours", required_argument, NULL, 'o' },
	{ "max-runtime", required_argument, NULL, 'r' },
	{ "depth", required_argument, NULL, 'd' },
	{ "exe", required_argument, NULL, 'x' },
	{ "unit", required_argument, NULL, 'U' },
	{ "user", required_argument, NULL, 'u' },
	{ "servicer", required_argument, NULL, 'S' },
	{ "grant", required_argument, NULL, 'g' },
	{ "read", required_argument, NULL, 'R' },
	{ "write", required_argument, NULL, 'W' },
	{ "no-network", no_argument, NULL, 'N' },
};
#define SCOPE_SHORTOPTS "c:aPe:n:o:r:d:x:U:u:S:g:R:W:N"

static int opt_scope(int c, const char *arg, void *u)
{
	struct scope *s = u;
	uint32_t v;
	unsigned a, b;
	char tail;

	switch (c) {
	case 'c':
		if (arg[0] != '/' || strlen(arg) > PT_MAX_PATH) {
			tool_err("--cmd needs an absolute path: %s", arg);
			return -EINVAL;
		}
		s->cmd.path = (char *)arg;
		s->have_cmd = true;
		return 0;
	case 'a':
		s->args = true;
		return 0;
	case 'P':
		s->args_prefix = true;
		return 0;
	case 'e':
	case 'r':
		if (pt_parse_duration(arg, c == 'e' ? &s->spec.lifetime : &s->spec.max_runtime) <
			    0 ||
		    (c == 'e' ? s->spec.lifetime : s->spec.max_runtime) == 0) {
			tool_err("invalid duration: %s (seconds, or a number with s, m, h, d, w)",
				 arg);
			return -EINVAL;
		}
		return 0;
	case 'n':
	case 'd':
		if (pt_parse_u32(arg, &v) < 0 || (c == 'n' && v == 0)) {
			tool_err("invalid number: %s", arg);
			return -EINVAL;
		}
		if (c == 'n')
			s->spec.max_uses = v;
		else
			s->spec.depth = v;
		return 0;
	case 'o':
		if (strlen(arg) != 5 || arg[2] != '-' ||
		    sscanf(arg, "%2u-%2u%c", &a, &b, &tail) != 2 || a > 23 || b > 23 || a == b) {
			tool_err("invalid --hours: %s (HH-HH, local time, e.g. 01-05)", arg);
			return -EINVAL;
		}
		s->spec.has_hours = 1;
		s->spec.hours_from = (uint8_t)a;
		s->spec.hours_to = (uint8_t)b;
		return 0;
	case 'x':
		if (arg[0] != '/') {
			tool_err("--exe needs an absolute path: %s", arg);
			return -EINVAL;
		}
		s->spec.servicer_exe = (char *)arg;
		return 0;
	case 'U':
		s->spec.servicer_unit = (char *)arg;
		return 0;
	case 'R':
	case 'W':
		if (arg[0] != '/' || strlen(arg) > PT_MAX_PATH) {
			tool_err("--%s needs an absolute path: %s", c == 'R' ? "read" : "write",
				 arg);
			return -EINVAL;
		}
		if (s->spec.n_paths >= PT_MAX_GRANT_PATHS) {
			tool_err("at most %u --read and --write paths", PT_MAX_GRANT_PATHS);
			return -EINVAL;
		}
		s->paths[s->spec.n_paths].path = (char *)arg;
		s->paths[s->spec.n_paths++].write = c == 'W';
		s->spec.paths = s->paths;
		return 0;
	case 'N':
		s->spec.no_network = 1;
		return 0;
	case 'u':
		s->user = arg;
		return 0;
	case 'S':
		s->servicer = arg;
		return 0;
	case 'g':
		s->grant = arg;
		return 0;
	default:
		return -EINVAL;
	}
}

/* Parses argv (argv[0]: the command's name) into s; operands from optind:
 * the first n_fixed are the command's own (left at ret_first), the rest are
 * the command's arguments (--args / --args-prefix). -1: run, else exit code. */
static int parse_scope(int argc, char **argv, struct scope *s, int n_fixed, int *ret_first,
		       void (*usage)(FILE *f), struct tool_conn *conn)
{
	int code;

	code = tool_parse_command(argc, argv, SCOPE_SHORTOPTS, scope_opts,
				  PT_ELEMENTSOF(scope_opts), opt_scope, s, usage, conn);
	if (code >= 0)
		return code;
	if (argc - optind < n_fixed) {
		tool_err("missing operand");
		return TOOL_EXIT_USAGE;
	}
	*ret_first = optind;
	if (s->args && s->args_prefix) {
		tool_err("--args and --args-prefix exclude each other");
		return TOOL_EXIT_USAGE;
	}
	if (!s->args && !s->args_prefix && argc - optind > n_fixed) {
		tool_err("arguments after the operands need --args or --args-prefix");
		return TOOL_EXIT_USAGE;
	}
	if (argc - optind - n_fixed > (int)PT_MAX_GRANT_ARGS) {
		tool_err("at most %u arguments", PT_MAX_GRANT_ARGS);
		return TOOL_EXIT_USAGE;
	}
	s->cmd.argv = argv + optind + n_fixed;
	s->cmd.n_argv = (uint32_t)(argc - optind - n_fixed);
	s->cmd.prefix = s->args_prefix;
	if (s->have_cmd) {
		s->spec.cmds = &s->cmd;
		s->spec.n_cmds = 1;
	}
	if (!s->spec.servicer_exe)
		s->spec.servicer_exe = (char *)"";
	if (!s->spec.servicer_unit)
		s->spec.servicer_unit = (char *)"";
	if (!s->spec.servicer)
		s->spec.servicer = (char *)"";
	return -1;
}

static int call_print_id(const struct tool_conn *conn, struct pt_req *req, const char *what)
{
	struct pt_rep rep = {};
	int code = tool_call(conn, req, &rep);

	if (code == TOOL_EXIT_OK)
		printf("%s %s\n", what, rep.id ? rep.id : "");
	pt_rep_clear(&rep);
	return code;
}

static int call_print_count(const struct tool_conn *conn, struct pt_req *req, const char *what)
{
	struct pt_rep rep = {};
	int code = tool_call(conn, req, &rep);

	if (code == TOOL_EXIT_OK)
		printf("%s %s\n", what, req->id);
	pt_rep_clear(&rep);
	return code;
}

static bool id_ok(const char *id)
{
	return pt_name_valid(id) && strlen(id) < 64;
}

int grant_cmd_create(int argc, char **argv, void (*usage)(FILE *f), struct tool_conn *conn)
{
	struct scope s = {};
	struct pt_req req = { .type = PT_GRANT_CREATE };
	int first, code;

	code = parse_scope(argc, argv, &s, 1, &first, usage, conn);
	if (code >= 0)
		return code;
	if (!s.have_cmd || !s.spec.lifetime || first >= argc || !pt_name_valid(argv[first])) {
		if (first >= argc)
			tool_err("grant: which servicer? (grant SERVICER --cmd PATH ...)");
		else if (!pt_name_valid(argv[first]))
			tool_err("grant: invalid servicer name: %s", argv[first]);
		else
			tool_err("grant: %s is required",
				 !s.have_cmd ? "--cmd PATH" : "--expires D");
		tool_err("usage: grant SERVICER --cmd PATH --expires D [--uses N] [--hours HH-HH]\n"
			 "       [--max-runtime D] [--depth N] [--exe PATH] [--unit UNIT]\n"
			 "       [--read PATH]... [--write PATH]... [--no-network]\n"
			 "       [--args|--args-prefix ARG...]");
		return TOOL_EXIT_USAGE;
	}
	s.spec.servicer = argv[first];
	req.user = (char *)"";
	req.gspec = &s.spec;
	return call_print_id(conn, &req, "granted");
}

int grant_cmd_revoke(int argc, char **argv, void (*usage)(FILE *f), struct tool_conn *conn)
{
	struct pt_req req = { .type = PT_GRANT_REVOKE };
	int code;

	code = tool_parse_command(argc, argv, "", NULL, 0, NULL, NULL, usage, conn);
	if (code >= 0)
		return code;
	if (optind + 1 != argc || !id_ok(argv[optind])) {
		tool_err("usage: grant revoke ID");
		return TOOL_EXIT_USAGE;
	}
	req.id = argv[optind];
	return call_print_count(conn, &req, "revoked");
}

static int answer(int argc, char **argv, void (*usage)(FILE *f), struct tool_conn *conn,
		  bool approve)
{
	struct scope s = {};
	struct pt_req req = { .type = approve ? PT_GRANT_APPROVE : PT_GRANT_DENY };
	int first, code;

	code = parse_scope(argc, argv, &s, 1, &first, usage, conn);
	if (code >= 0)
		return code;
	if (!id_ok(argv[first]) || (!approve && (s.have_cmd || argc - first != 1))) {
		tool_err(approve ? "usage: grant approve ID [--cmd PATH --args ...] [--uses N] "
				   "[--expires D] ..." :
				   "usage: grant deny ID");
		return TOOL_EXIT_USAGE;
	}
	req.id = argv[first];
	if (!approve)
		return call_print_count(conn, &req, "denied");
	/* narrower options: they need the command they narrow */
	if (s.have_cmd)
		req.gspec = &s.spec;
	else if (s.spec.lifetime || s.spec.max_uses || s.spec.has_hours || s.spec.max_runtime) {
		tool_err("narrowing needs --cmd PATH (and its --args) too");
		return TOOL_EXIT_USAGE;
	}
	return call_print_id(conn, &req, "granted");
}

static int cmd_request(int argc, char **argv, void (*usage)(FILE *f), struct tool_conn *conn)
{
	struct scope s = {};
	struct pt_req req = { .type = PT_GRANT_REQUEST };
	int first, code;

	code = parse_scope(argc, argv, &s, 1, &first, usage, conn);
	if (code >= 0)
		return code;
	if (!s.have_cmd || !pt_name_valid(argv[first])) {
		tool_err("usage: grant request USER --cmd PATH [--args ARG...] [--uses N] "
			 "[--expires D]");
		return TOOL_EXIT_USAGE;
	}
	req.user = argv[first];
	req.gspec = &s.spec;
	return call_print_id(conn, &req, "requested");
}

static int cmd_requests(int argc, char **argv, void (*usage)(FILE *f), struct tool_conn *conn)
{
	struct pt_req req = { .type = PT_GRANT_REQUESTS, .user = (char *)"" };
	struct pt_rep rep = {};
	int code;

	code = tool_parse_command(argc, argv, "", NULL, 0, NULL, NULL, usage, conn);
	if (code >= 0)
		return code;
	if (optind != argc) {
		tool_err("usage: grant requests");
		return TOOL_EXIT_USAGE;
	}
	code = tool_call(conn, &req, &rep);
	if (code == TOOL_EXIT_OK) {
		printf("%u pending request(s) to you\n", rep.count);
		if (rep.text && *rep.text)
			tool_print_text(rep.text);
	}
	pt_rep_clear(&rep);
	return code;
}

static int cmd_delegate(int argc, char **argv, void (*usage)(FILE *f), struct tool_conn *conn)
{
	struct scope s = {};
	struct pt_req req = { .type = PT_GRANT_DELEGATE };
	int first, code;

	code = parse_scope(argc, argv, &s, 2, &first, usage, conn);
	if (code >= 0)
		return code;
	if (!s.have_cmd || !id_ok(argv[first]) || !pt_name_valid(argv[first + 1])) {
		tool_err("usage: grant delegate ID SERVICER2 --cmd PATH [--args ARG...] "
			 "[--uses N] [--expires D] [--depth N]");
		return TOOL_EXIT_USAGE;
	}
	req.id = argv[first];
	s.spec.servicer = argv[first + 1];
	req.gspec = &s.spec;
	return call_print_id(conn, &req, "delegated");
}

int grant_cmd_user(int argc, char **argv, void (*usage)(FILE *f), struct tool_conn *conn)
{
	static const struct {
		const char *name;
		int (*run)(int, char **, void (*)(FILE *), struct tool_conn *);
	} sub[] = {
		{ "revoke", grant_cmd_revoke },
		{ "delegate", cmd_delegate },
		{ "request", cmd_request },
		{ "requests", cmd_requests },
	};

	if (argc > 1) {
		for (size_t i = 0; i < PT_ELEMENTSOF(sub); i++)
			if (strcmp(argv[1], sub[i].name) == 0)
				return sub[i].run(argc - 1, argv + 1, usage, conn);
		if (strcmp(argv[1], "approve") == 0 || strcmp(argv[1], "deny") == 0)
			return answer(argc - 1, argv + 1, usage, conn,
				      strcmp(argv[1], "approve") == 0);
	}
	return grant_cmd_create(argc, argv, usage, conn);
}

int grant_cmd_list(int argc, char **argv, void (*usage)(FILE *f), struct tool_conn *conn)
{
	struct scope s = {};
	struct pt_req req = { .type = PT_GRANT_LIST };
	struct pt_rep rep = {};
	int first, code;

	code = parse_scope(argc, argv, &s, 0, &first, usage, conn);
	if (code >= 0)
		return code;
	if (argc != first || s.have_cmd) {
		tool_err("usage: grants [--user U] [--servicer S]");
		return TOOL_EXIT_USAGE;
	}
	req.user = (char *)(s.user ? s.user : "");
	req.holder = (char *)(s.servicer ? s.servicer : "");
	code = tool_call(conn, &req, &rep);
	if (code == TOOL_EXIT_OK) {
		if (!rep.text || !*rep.text)
			printf("no grants\n");
		else
			tool_print_text(rep.text);
	}
	pt_rep_clear(&rep);
	return code;
}

int grant_cmd_explain(int argc, char **argv, void (*usage)(FILE *f), struct tool_conn *conn)
{
	struct scope s = {};
	struct pt_req req = { .type = PT_GRANT_EXPLAIN };
	struct pt_rep rep = {};
	int first, code;

	/* explain act-as USER --servicer S --grant ID -- CMD ARGS... */
	s.args = true; /* every operand after USER is the command line */
	code = parse_scope(argc, argv, &s, 0, &first, usage, conn);
	if (code >= 0)
		return code;
	if (argc - first < 2 || !pt_name_valid(argv[first]) || !s.servicer || !s.grant ||
	    argv[first + 1][0] != '/' || s.have_cmd) {
		tool_err(
			"usage: explain act-as USER --servicer S --grant ID -- /PATH/CMD [ARGS...]");
		return TOOL_EXIT_USAGE;
	}
	s.cmd.path = argv[first + 1];
	s.cmd.argv = argv + first + 2;
	s.cmd.n_argv = (uint32_t)(argc - first - 2);
	s.spec.cmds = &s.cmd;
	s.spec.n_cmds = 1;
	s.spec.servicer = (char *)s.servicer;
	req.user = argv[first];
	req.id = (char *)s.grant;
	req.gspec = &s.spec;
	code = tool_call(conn, &req, &rep);
	if (code == TOOL_EXIT_OK) {
		tool_print_text(rep.text);
		if (tool_explain_decision(rep.text) != 1)
			code = TOOL_EXIT_REFUSED;
	}
	pt_rep_clear(&rep);
	return code;
}
