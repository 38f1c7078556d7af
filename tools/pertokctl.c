/* SPDX-License-Identifier: MIT */
/*
 * pertokctl: the administrator's tool. Lists and revokes persistable tokens
 * of every user, prints tokend's public key and status.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "audit-cmd.h"
#include "grant-cmd.h"
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
		"  revoke [--user U] [--holder H] [--before TIME]\n"
		"                                revoke every token matching all of them\n"
		"  delegate ID HOLDER            move a token to another holder (actor) on\n"
		"                                this host: only HOLDER may redeem it then\n"
		"  explain --user U --holder H [--at TIME] [--json]\n"
		"                                which redeem rule decides and why, and the\n"
		"                                live token's claims (a dry run; exit 0 allow,\n"
		"                                1 deny)\n"
		"  explain --issue --actor A --user U --holder H [--at TIME] [--json]\n"
		"                                the same for the exchange at a login through A\n"
		"  explain act-as USER --servicer S --grant ID -- /PATH/CMD [ARGS...]\n"
		"                                whether S may run the command as USER under\n"
		"                                the grant, and which field decides (dry run;\n"
		"                                exit 0 allow, 1 deny)\n"
		"  grants [--user U] [--servicer S]\n"
		"                                list grants (U's as user or servicer, S's)\n"
		"  grant revoke ID               revoke a grant (and its delegations)\n"
		"  recommend [--user U] [--holder H] [--days N] [--json | --write FILE]\n"
		"                                entitlements and groups unused for N days,\n"
		"                                with evidence; --write: as curtail rules in\n"
		"                                a drop-in config file\n"
		"  recommend --revert ID         undo a curtailment auto_curtail applied\n"
		"  check-config FILE             check a tokend.conf without touching tokend\n"
		"  code issue [USER] --type T [--user U] [--count N]\n"
		"                                issue a code of a code type (printed once);\n"
		"                                --count N: a printable sheet of N codes with\n"
		"                                ids, replacing the user's old sheet\n"
		"  code check [USER] --type T [--user U]\n"
		"                                check a code read from standard input\n"
		"  code list [USER] --type T [--user U]\n"
		"                                the sheet's ids, used or unused (no codes)\n"
		"  pubkey [--jwks]               print tokend's public key (PEM, or a JWK set)\n"
		"  audit verify|show [OPTIONS]   check or print the audit log (audit --help)\n"
		"  audit rpo RPO [--file LOG]    every access by a remote principal\n"
		"  template import FILE [--signature JWS-FILE]\n"
		"                                store an access template; prints its hash\n"
		"  template show HASH            print a stored template\n"
		"  rpo approve HASH --not-after TIME\n"
		"                                a remote principal from the template, valid\n"
		"                                until TIME (or +DURATION)\n"
		"  rpo list | rpo show RPO       the remote principals, or one\n"
		"  rpo extend RPO --not-after TIME\n"
		"  rpo revoke RPO                end one now (the reaper removes it)\n"
		"  status [--json]               print tokend's status (and the last reload's)\n"
		"  rotate-key                    new store and signing keys; tokens re-wrapped,\n"
		"                                the old public key stays published\n"
		"  reseal                        seal the store key again to the current PCRs\n"
		"\n"
		"Options:\n"
		"  -s, --socket PATH             tokend's socket (default %s)\n"
		"  -t, --timeout MS              timeout per request (default %d)\n"
		"  -h, --help                    show this help\n"
		"  -V, --version                 show the version\n"
		"\n"
		"TIME: unix seconds, or ISO 8601 \"2025-01-31T12:00:00Z\" (UTC), \"2025-01-31T12:00:00\"\n"
		"or \"2025-01-31\" (local time).\n"
		"Exit status: 0 ok, 1 refused or failed, 2 usage, 3 cannot reach tokend.\n",
		program_invocation_short_name, pt_default_socket(), TOOL_TIMEOUT_DEFAULT);
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

/* -------------------------------------------------------------- delegate */

static int cmd_delegate(int argc, char **argv, struct tool_conn *conn)
{
	return tool_delegate(argc, argv, conn, usage);
}

/* ---------------------------------------------------------------- revoke */

/* TIME: unix seconds, "YYYY-MM-DDTHH:MM:SSZ" (UTC), the same without "Z"
 * or "YYYY-MM-DD" (local time). */
static int parse_time(const char *s, uint64_t *ret)
{
	static const char *const fmts[] = { "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d" };
	struct tm tm;
	const char *end;
	time_t t;

	if (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 12) {
		*ret = strtoull(s, NULL, 10);
		return *ret ? 0 : -EINVAL;
	}
	for (size_t i = 0; i < PT_ELEMENTSOF(fmts); i++) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, fmts[i], &tm);
		if (!end)
			continue;
		if (strcmp(end, "Z") == 0)
			t = timegm(&tm);
		else if (*end == '\0') {
			tm.tm_isdst = -1;
			t = mktime(&tm);
		} else
			continue;
		if (t <= 0)
			return -EINVAL;
		*ret = (uint64_t)t;
		return 0;
	}
	return -EINVAL;
}

struct match_opts {
	const char *user, *holder;
	uint64_t time;
	bool has_time;
};

static int opt_match(int c, const char *arg, void *u)
{
	struct match_opts *m = u;

	switch (c) {
	case 'u':
	case 'H':
		if (!pt_name_valid(arg)) {
			tool_err("invalid %s name: %s", c == 'u' ? "user" : "holder", arg);
			return -EINVAL;
		}
		*(c == 'u' ? &m->user : &m->holder) = arg;
		return 0;
	case 'b':
	case 'a':
		if (parse_time(arg, &m->time) < 0) {
			tool_err("invalid time: %s (unix seconds or ISO 8601, e.g. "
				 "2025-01-31T12:00:00Z)",
				 arg);
			return -EINVAL;
		}
		m->has_time = true;
		return 0;
	default:
		return -EINVAL;
	}
}

static int cmd_revoke(int argc, char **argv, struct tool_conn *conn)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "holder", required_argument, NULL, 'H' },
		{ "before", required_argument, NULL, 'b' },
	};
	struct match_opts m = {};
	struct pt_req req = { .type = PT_REVOKE };
	int code;

	code = tool_parse_command(argc, argv, "u:H:b:", opts, PT_ELEMENTSOF(opts), opt_match, &m,
				  usage, conn);
	if (code >= 0)
		return code;
	if (m.user || m.holder || m.has_time) {
		/* by match: every token of U, of H, issued before TIME (all that are given) */
		if (optind != argc) {
			tool_err("revoke takes an ID or --user/--holder/--before, not both");
			return TOOL_EXIT_USAGE;
		}
		req.type = PT_REVOKE_MATCH;
		req.user = (char *)(m.user ? m.user : "");
		req.holder = (char *)(m.holder ? m.holder : "");
		req.before = m.time;
		return tool_revoke(conn, &req);
	}
	if (optind + 1 != argc || !pt_name_valid(argv[optind])) {
		tool_err("usage: revoke ID | revoke [--user U] [--holder H] [--before TIME]");
		return TOOL_EXIT_USAGE;
	}
	req.id = argv[optind];
	return tool_revoke(conn, &req);
}

/* ---------------------------------------------------------------- pubkey */

static int cmd_pubkey(int argc, char **argv, struct tool_conn *conn)
{
	static const struct option opts[] = { { "jwks", no_argument, NULL, 'j' } };
	struct pt_req req = { .type = PT_PUBKEY };
	struct pt_rep rep = {};
	bool jwks = false;
	int code;

	code = tool_parse_command(argc, argv, "j", opts, PT_ELEMENTSOF(opts), tool_opt_flag, &jwks,
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
			tool_print_text(rep.text);
	}
	pt_rep_clear(&rep);
	return code;
}

/* ---------------------------------------------------------------- status */

/* "key=value" lines as one JSON object (numbers where the value is all
 * digits); a line without '=' is not tokend's format and is refused. */
static int print_kv_json(const char *text)
{
	struct json_object *o = json_object_new_object();
	const char *p = text ? text : "";

	if (!o)
		goto oom;
	while (*p) {
		size_t n = strcspn(p, "\n"), k = strcspn(p, "=");
		struct json_object *v;
		char key[128];
		bool num = k < n && k + 1 < n && n - k - 1 <= 18;

		if (n == 0) {
			p++;
			continue;
		}
		if (k >= n || k == 0 || k >= sizeof(key)) {
			tool_err("tokend's status has a line that is not key=value: %.*s", (int)n,
				 p);
			json_object_put(o);
			return TOOL_EXIT_REFUSED;
		}
		for (size_t i = k + 1; num && i < n; i++)
			num = p[i] >= '0' && p[i] <= '9';
		memcpy(key, p, k);
		key[k] = '\0';
		v = num ? json_object_new_int64(strtoll(p + k + 1, NULL, 10)) :
			  json_object_new_string_len(p + k + 1, (int)(n - k - 1));
		if (!v || json_object_object_add(o, key, v) < 0) {
			json_object_put(v);
			goto oom;
		}
		p += n;
	}
	return tool_print_json_object(o);
oom:
	json_object_put(o);
	return tool_print_json_object(NULL);
}

static int cmd_status(int argc, char **argv, struct tool_conn *conn)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' } };
	struct pt_req req = { .type = PT_STATUS };
	struct pt_rep rep = {};
	bool json = false;
	int code;

	code = tool_parse_command(argc, argv, "j", opts, PT_ELEMENTSOF(opts), tool_opt_flag, &json,
				  usage, conn);
	if (code >= 0)
		return code;
	if (optind != argc) {
		tool_err("usage: status [--json]");
		return TOOL_EXIT_USAGE;
	}
	code = tool_call(conn, &req, &rep);
	if (code == TOOL_EXIT_OK) {
		if (json)
			code = print_kv_json(rep.text);
		else
			tool_print_text(rep.text);
	}
	pt_rep_clear(&rep);
	return code;
}

/* ------------------------------------------------------- rotate-key, reseal */

/* Root-only key operations; each may take several TPM commands. */
static int key_op(int argc, char **argv, struct tool_conn *conn, uint8_t type, const char *name)
{
	struct pt_req req = { .type = type };
	int code;

	code = tool_parse_command(argc, argv, "", NULL, 0, NULL, NULL, usage, conn);
	if (code >= 0)
		return code;
	if (optind != argc) {
		tool_err("%s takes no arguments", name);
		return TOOL_EXIT_USAGE;
	}
	if (conn->timeout_ms == TOOL_TIMEOUT_DEFAULT)
		conn->timeout_ms = 60000; /* a discrete TPM takes seconds */
	return tool_call_text(conn, &req);
}

static int cmd_rotate_key(int argc, char **argv, struct tool_conn *conn)
{
	return key_op(argc, argv, conn, PT_ROTATE, "rotate-key");
}

static int cmd_reseal(int argc, char **argv, struct tool_conn *conn)
{
	return key_op(argc, argv, conn, PT_RESEAL, "reseal");
}

/* ---------------------------------------------------------------- explain */

struct explain_opts {
	struct match_opts m;
	const char *actor;
	bool issue, json;
};

static int opt_explain(int c, const char *arg, void *u)
{
	struct explain_opts *e = u;

	switch (c) {
	case 'i':
		e->issue = true;
		return 0;
	case 'j':
		e->json = true;
		return 0;
	case 'A':
		if (!pt_name_valid(arg)) {
			tool_err("invalid actor name: %s", arg);
			return -EINVAL;
		}
		e->actor = arg;
		return 0;
	default:
		return opt_match(c, arg, &e->m);
	}
}

static int add_json_str(struct json_object *o, const char *key, const char *v)
{
	struct json_object *s = v ? json_object_new_string(v) : NULL;

	if (v && !s)
		return -ENOMEM;
	if (json_object_object_add(o, key, s) < 0) {
		json_object_put(s);
		return -ENOMEM;
	}
	return 0;
}

/* The explanation as JSON: what was asked, the decision, the trace lines,
 * and (a redemption that is allowed) the claims as an object. */
static int print_explain_json(const struct explain_opts *e, const char *text, int decision)
{
	struct json_object *o = json_object_new_object(), *lines = json_object_new_array();
	struct json_object *claims = NULL;
	const char *p = text ? text : "", *brace;

	if (!o || !lines)
		goto oom;
	if (add_json_str(o, "kind", e->issue ? "issue" : "redeem") < 0 ||
	    add_json_str(o, "user", e->m.user) < 0 || add_json_str(o, "holder", e->m.holder) < 0 ||
	    add_json_str(o, "actor", e->issue ? e->actor : e->m.holder) < 0 ||
	    add_json_str(o, "decision",
			 decision < 0 ? NULL :
			 decision     ? "allow" :
					"deny") < 0)
		goto oom;
	brace = strstr(p, "\n{");
	if (brace) {
		struct json_tokener *tok = json_tokener_new();

		if (tok) {
			claims = json_tokener_parse_ex(tok, brace + 1, (int)strlen(brace + 1));
			json_tokener_free(tok);
		}
	}
	if (json_object_object_add(o, "claims", claims) < 0) {
		json_object_put(claims);
		goto oom;
	}
	while (*p) {
		size_t n = strcspn(p, "\n");
		struct json_object *l = json_object_new_string_len(p, (int)n);

		if (!l || json_object_array_add(lines, l) < 0) {
			json_object_put(l);
			goto oom;
		}
		p += n + (p[n] ? 1 : 0);
	}
	if (json_object_object_add(o, "text", lines) < 0)
		goto oom;
	return tool_print_json_object(o);
oom:
	json_object_put(lines);
	json_object_put(o);
	return tool_print_json_object(NULL);
}

/* Exit status: 0 allow, 1 deny (or refused, or failed), 2 usage, 3 no
 * tokend. */
static int cmd_explain(int argc, char **argv, struct tool_conn *conn)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "holder", required_argument, NULL, 'H' },
		{ "at", required_argument, NULL, 'a' },
		{ "issue", no_argument, NULL, 'i' },
		{ "actor", required_argument, NULL, 'A' },
		{ "json", no_argument, NULL, 'j' },
	};
	struct explain_opts e = {};
	struct pt_req req = { .type = PT_EXPLAIN };
	struct pt_rep rep = {};
	int code, decision;

	if (argc > 1 && strcmp(argv[1], "act-as") == 0)
		return grant_cmd_explain(argc - 1, argv + 1, usage, conn);
	code = tool_parse_command(argc, argv, "u:H:a:iA:j", opts, PT_ELEMENTSOF(opts), opt_explain,
				  &e, usage, conn);
	if (code >= 0)
		return code;
	if (optind != argc || !e.m.user || !e.m.holder || (e.issue != !!e.actor)) {
		tool_err(
			"usage: explain --user U --holder H [--at TIME] [--json]\n"
			"       explain --issue --actor A --user U --holder H [--at TIME] [--json]");
		return TOOL_EXIT_USAGE;
	}
	if (e.issue) {
		req.type = PT_EXPLAIN_ISSUE;
		req.actor = (char *)e.actor;
	}
	req.user = (char *)e.m.user;
	req.holder = (char *)e.m.holder;
	req.at = e.m.time;
	code = tool_call(conn, &req, &rep);
	if (code != TOOL_EXIT_OK)
		goto out;
	decision = tool_explain_decision(rep.text);
	if (e.json)
		code = print_explain_json(&e, rep.text, decision);
	else
		tool_print_text(rep.text);
	if (code == TOOL_EXIT_OK && decision != 1)
		code = TOOL_EXIT_REFUSED; /* deny, or no decision to tell */
out:
	pt_rep_clear(&rep);
	return code;
}

/* ---------------------------------------------------------------- code */

/* One line from stdin into buf (without the newline); echo off on a
 * terminal. Returns 0, or an exit code after printing why. */
static int read_code(char *buf, size_t len)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	bool got;
	size_t n;

	if (tty) {
		fprintf(stderr, "Code: ");
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	got = fgets(buf, (int)len, stdin) != NULL;
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (!got) {
		tool_err("no code on standard input");
		return TOOL_EXIT_USAGE;
	}
	n = strcspn(buf, "\r\n");
	if (buf[n] == '\0' && n == len - 1) {
		explicit_bzero(buf, len);
		tool_err("the code is too long");
		return TOOL_EXIT_USAGE;
	}
	buf[n] = '\0';
	return 0;
}

struct code_opts {
	const char *type;
	const char *user;
	uint32_t count; /* 0: not given */
};

static int opt_code(int c, const char *arg, void *u)
{
	struct code_opts *o = u;
	uint64_t n;

	if (c == 'n') {
		if (pt_parse_u64(arg, &n) < 0 || n < 1 || n > PT_MAX_SHEET) {
			tool_err("invalid --count: %s (1 to %u)", arg, PT_MAX_SHEET);
			return -EINVAL;
		}
		o->count = (uint32_t)n;
		return 0;
	}
	if (!pt_name_valid(arg)) {
		tool_err("invalid %s: %s", c == 'T' ? "type name" : "user name", arg);
		return -EINVAL;
	}
	if (c == 'T')
		o->type = arg;
	else
		o->user = arg;
	return 0;
}

/* The printable sheet: a header saying what it is, then one "ID  CODE" line
 * per code, for an administrator to print and keep in a safe. */
static void print_sheet(const struct code_opts *o, const struct pt_rep *rep)
{
	char host[256] = "", when[64], exp[64];

	if (gethostname(host, sizeof(host) - 1) < 0)
		snprintf(host, sizeof(host), "?");
	printf("pertok one-time codes\n"
	       "host:    %s\n"
	       "user:    %s\n"
	       "type:    %s\n"
	       "issued:  %s\n"
	       "expires: %s (later if a code is used before then, up to the type's max_ttl)\n"
	       "Each code works as many times as the type's num_uses says (once by\n"
	       "default). A new sheet for this user and type replaces this one.\n"
	       "Keep this sheet in a safe place.\n\n",
	       host, o->user, o->type, tool_time((uint64_t)time(NULL), when, sizeof(when)),
	       tool_time(rep->exp, exp, sizeof(exp)));
	for (uint32_t i = 0; i < rep->n_codes; i++)
		printf("  %3" PRIu32 "   %s   [ ]\n", rep->codes[i].id,
		       rep->codes[i].code ? rep->codes[i].code : "");
	fflush(stdout);
}

static void print_code_list(const struct code_opts *o, const struct pt_rep *rep)
{
	char a[64], b[64];
	uint32_t unused = 0;

	for (uint32_t i = 0; i < rep->n_codes; i++)
		unused += !rep->codes[i].spent;
	printf("user %s, type %s: ", o->user, o->type);
	if (rep->n_codes == 0)
		printf("no sheet\n");
	else
		printf("sheet of %" PRIu32 " codes issued %s, %" PRIu32 " unused, expires %s\n",
		       rep->n_codes, tool_time(rep->iat, a, sizeof(a)), unused,
		       tool_time(rep->exp, b, sizeof(b)));
	printf("failures: %" PRIu32 "\n", rep->failures);
	if (rep->locked_until)
		printf("locked out until %s\n", tool_time(rep->locked_until, a, sizeof(a)));
	if (rep->n_codes)
		printf("%4s  %-6s  %s\n", "id", "state", "uses");
	for (uint32_t i = 0; i < rep->n_codes; i++)
		printf("%4" PRIu32 "  %-6s  %" PRIu32 "\n", rep->codes[i].id,
		       rep->codes[i].spent ? "used" : "unused", rep->codes[i].uses);
}

/* code issue [USER] --type T [--user U] [--count N]: prints the code (once) on
 * stdout; with --count, a printable sheet of N codes with their ids.
 * code check [USER] --type T [--user U]: reads the code from stdin (never argv).
 * code list [USER] --type T [--user U]: the ids of the user's sheet, used or not. */
static int cmd_code(int argc, char **argv, struct tool_conn *conn)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 'T' },
		{ "user", required_argument, NULL, 'u' },
		{ "count", required_argument, NULL, 'n' },
	};
	static const char *const subs[] = { "issue", "check", "list" };
	struct code_opts o = {};
	struct pt_req req = {};
	struct pt_rep rep = {};
	char line[PT_MAX_CODE + 3] = "", when[64];
	const char *sub = argc >= 2 ? argv[1] : "";
	int code;

	if (strcmp(sub, subs[0]) != 0 && strcmp(sub, subs[1]) != 0 && strcmp(sub, subs[2]) != 0) {
		tool_err("usage: code issue|check|list [USER] --type T [--user U] [--count N]");
		return TOOL_EXIT_USAGE;
	}
	code = tool_parse_command(argc - 1, argv + 1, "T:u:n:", opts, PT_ELEMENTSOF(opts), opt_code,
				  &o, usage, conn);
	if (code >= 0)
		return code;
	/* the user as an argument, or as --user (not both) */
	if (optind == argc - 2 && !o.user) {
		if (opt_code('u', argv[optind + 1], &o) < 0)
			return TOOL_EXIT_USAGE;
		optind++;
	}
	if (optind != argc - 1 || !o.type || !o.user || (o.count && strcmp(sub, "issue") != 0)) {
		tool_err("usage: code %s [USER] --type T [--user U]%s", sub,
			 strcmp(sub, "issue") == 0 ? " [--count N]" : "");
		return TOOL_EXIT_USAGE;
	}
	req.type = strcmp(sub, "check") == 0 ? PT_CODE_CHECK :
		   strcmp(sub, "list") == 0  ? PT_CODE_LIST :
		   o.count		     ? PT_CODE_SHEET :
					       PT_CODE_ISSUE;
	req.ttype = (char *)o.type;
	req.user = (char *)o.user;
	req.count = o.count;
	if (req.type == PT_CODE_CHECK) {
		code = read_code(line, sizeof(line));
		if (code != 0)
			return code;
		req.code = line;
	}
	code = tool_call(conn, &req, &rep);
	explicit_bzero(line, sizeof(line));
	if (code != TOOL_EXIT_OK) {
		/* tool_call said why */
	} else if (req.type == PT_CODE_ISSUE) {
		printf("%s\n", rep.token ? rep.token : "");
		fflush(stdout);
		fprintf(stderr, "expires %s; shown only this once\n",
			tool_time(rep.exp, when, sizeof(when)));
	} else if (req.type == PT_CODE_SHEET) {
		print_sheet(&o, &rep);
		fprintf(stderr, "shown only this once; the user's previous sheet is revoked\n");
	} else if (req.type == PT_CODE_LIST)
		print_code_list(&o, &rep);
	else if (rep.count == UINT32_MAX)
		printf("code accepted\n");
	else
		printf("code accepted (%u use%s left)\n", rep.count, rep.count == 1 ? "" : "s");
	pt_rep_clear(&rep);
	return code;
}

/* ---------------------------------------------------------------- template, rpo */

static int opt_sig(int c, const char *arg, void *u)
{
	if (c != 'S')
		return -EINVAL;
	*(const char **)u = arg;
	return 0;
}

static int cmd_template(int argc, char **argv, struct tool_conn *conn)
{
	static const struct option opts[] = { { "signature", required_argument, NULL, 'S' } };
	struct pt_req req = {};
	const char *sigfile = NULL, *sub;
	char *blob = NULL, *sig = NULL;
	size_t len = 0, slen = 0;
	int code, r;

	if (argc < 2 || (strcmp(argv[1], "import") != 0 && strcmp(argv[1], "show") != 0)) {
		tool_err("usage: template import FILE [--signature JWS-FILE] | template show HASH");
		return TOOL_EXIT_USAGE;
	}
	sub = argv[1];
	code = tool_parse_command(argc - 1, argv + 1, "", opts, PT_ELEMENTSOF(opts), opt_sig,
				  &sigfile, usage, conn);
	if (code >= 0)
		return code;
	if (optind + 2 != argc) {
		tool_err("usage: template import FILE [--signature JWS-FILE] | template show HASH");
		return TOOL_EXIT_USAGE;
	}
	if (strcmp(sub, "show") == 0) {
		if (sigfile) {
			tool_err("template show takes no --signature");
			return TOOL_EXIT_USAGE;
		}
		req.type = PT_TEMPLATE_SHOW;
		req.id = argv[optind + 1];
		return tool_call_text(conn, &req);
	}
	r = tool_read_file(argv[optind + 1], PT_MAX_TEMPLATE, &blob, &len);
	if (r == 0 && strlen(blob) != len)
		r = -EINVAL;
	if (r < 0) {
		tool_err("%s: %s", argv[optind + 1],
			 r == -EFBIG  ? "larger than a template may be (16 KiB)" :
			 r == -EINVAL ? "holds a NUL byte" :
					strerror(-r));
		free(blob);
		return TOOL_EXIT_REFUSED;
	}
	if (sigfile) {
		r = tool_read_file(sigfile, PT_MAX_TEMPLATE_SIG, &sig, &slen);
		if (r < 0) {
			tool_err("%s: %s", sigfile, strerror(-r));
			free(blob);
			return TOOL_EXIT_REFUSED;
		}
		while (slen > 0 && (sig[slen - 1] == '\n' || sig[slen - 1] == '\r'))
			sig[--slen] = '\0';
	}
	req.type = PT_TEMPLATE_IMPORT;
	req.blob = blob;
	req.sig = sig ? sig : (char *)"";
	code = tool_call_text(conn, &req);
	free(blob);
	free(sig);
	return code;
}

/* --not-after: a TIME, or "+DURATION" from now ("+7d"). */
static int opt_not_after(int c, const char *arg, void *u)
{
	uint64_t *t = u, v;

	if (c != 'n')
		return -EINVAL;
	if (arg[0] == '+' && pt_parse_duration(arg + 1, &v) == 0 && v > 0) {
		*t = (uint64_t)time(NULL) + v;
		return 0;
	}
	if (parse_time(arg, t) < 0) {
		tool_err("--not-after: not a time (unix seconds, ISO 8601) or +DURATION: %s", arg);
		return -EINVAL;
	}
	return 0;
}

static int cmd_rpo(int argc, char **argv, struct tool_conn *conn)
{
	static const struct option opts[] = { { "not-after", required_argument, NULL, 'n' } };
	static const char use[] = "usage: rpo approve HASH --not-after TIME | rpo list | rpo show "
				  "RPO | rpo extend RPO --not-after TIME | rpo revoke RPO";
	struct pt_req req = {};
	uint64_t not_after = 0;
	const char *sub;
	bool wants_time, wants_arg;
	int code;

	if (argc < 2) {
		tool_err("%s", use);
		return TOOL_EXIT_USAGE;
	}
	sub = argv[1];
	if (strcmp(sub, "approve") == 0)
		req.type = PT_RPO_APPROVE;
	else if (strcmp(sub, "list") == 0)
		req.type = PT_RPO_LIST;
	else if (strcmp(sub, "show") == 0)
		req.type = PT_RPO_SHOW;
	else if (strcmp(sub, "extend") == 0)
		req.type = PT_RPO_EXTEND;
	else if (strcmp(sub, "revoke") == 0)
		req.type = PT_RPO_REVOKE;
	else {
		tool_err("%s", use);
		return TOOL_EXIT_USAGE;
	}
	code = tool_parse_command(argc - 1, argv + 1, "", opts, PT_ELEMENTSOF(opts), opt_not_after,
				  &not_after, usage, conn);
	if (code >= 0)
		return code;
	wants_time = req.type == PT_RPO_APPROVE || req.type == PT_RPO_EXTEND;
	wants_arg = req.type != PT_RPO_LIST;
	if (optind + 1 + (wants_arg ? 1 : 0) != argc || wants_time != (not_after != 0)) {
		tool_err("%s", use);
		return TOOL_EXIT_USAGE;
	}
	req.id = wants_arg ? argv[optind + 1] : NULL;
	req.not_after = not_after;
	return tool_call_text(conn, &req);
}

/* ---------------------------------------------------------------- check-config */

/* The very loader tokend uses: tokend --check-config (PERTOK_TOKEND names
 * another tokend binary, for tests). It reads only FILE. */
static int cmd_check_config(int argc, char **argv, struct tool_conn *conn)
{
	const char *tokend = getenv("PERTOK_TOKEND");
	int code;

	code = tool_parse_command(argc, argv, "", NULL, 0, NULL, NULL, usage, conn);
	if (code >= 0)
		return code;
	if (optind + 1 != argc) {
		tool_err("usage: check-config FILE");
		return TOOL_EXIT_USAGE;
	}
	if (!tokend || !*tokend)
		tokend = SBINDIR "/tokend";
	fflush(stdout);
	execl(tokend, "tokend", "--check-config", "-c", argv[optind], (char *)NULL);
	tool_err("cannot run %s: %s", tokend, strerror(errno));
	return TOOL_EXIT_REFUSED;
}

/* ---------------------------------------------------------------- grants */

static int cmd_grants(int argc, char **argv, struct tool_conn *conn)
{
	return grant_cmd_list(argc, argv, usage, conn);
}

static int cmd_grant(int argc, char **argv, struct tool_conn *conn)
{
	if (argc < 2 || strcmp(argv[1], "revoke") != 0) {
		tool_err("usage: grant revoke ID");
		return TOOL_EXIT_USAGE;
	}
	return grant_cmd_revoke(argc - 1, argv + 1, usage, conn);
}

/* ---------------------------------------------------------------- recommend */

struct recommend_opts {
	const char *user, *holder, *write, *revert;
	uint32_t days;
	bool json;
};

static int opt_recommend(int c, const char *arg, void *u)
{
	struct recommend_opts *o = u;
	char *end;
	unsigned long v;

	switch (c) {
	case 'u':
		o->user = arg;
		return 0;
	case 'H':
		o->holder = arg;
		return 0;
	case 'd':
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (errno || end == arg || *end || v < 1 || v > 3650) {
			tool_err("--days: \"%s\" is not a number of days from 1 to 3650", arg);
			return -EINVAL;
		}
		o->days = (uint32_t)v;
		return 0;
	case 'j':
		o->json = true;
		return 0;
	case 'w':
		o->write = arg;
		return 0;
	case 'r':
		o->revert = arg;
		return 0;
	default:
		return -EINVAL;
	}
}

/* text to path, replacing it whole (a temporary file renamed over it). */
static int write_file(const char *path, const char *text)
{
	char tmp[4096];
	size_t n = strlen(text);
	FILE *f;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		tool_err("%s: path too long", path);
		return TOOL_EXIT_USAGE;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		tool_err("cannot create a file next to %s: %s%s", path, strerror(errno),
			 errno == ENOENT ? " (create its directory first)" : "");
		return TOOL_EXIT_REFUSED;
	}
	f = fdopen(fd, "w");
	if (!f) {
		tool_err("cannot write %s: %s", path, strerror(errno));
		close(fd);
		unlink(tmp);
		return TOOL_EXIT_REFUSED;
	}
	/* f closed exactly once, whatever fails */
	if (fchmod(fd, 0644) < 0 || fwrite(text, 1, n, f) != n || fflush(f) != 0 || fsync(fd) < 0) {
		tool_err("cannot write %s: %s", path, strerror(errno));
		fclose(f);
		unlink(tmp);
		return TOOL_EXIT_REFUSED;
	}
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		tool_err("cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return TOOL_EXIT_REFUSED;
	}
	return TOOL_EXIT_OK;
}

static int cmd_recommend(int argc, char **argv, struct tool_conn *conn)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "holder", required_argument, NULL, 'H' },
		{ "days", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "write", required_argument, NULL, 'w' },
		{ "revert", required_argument, NULL, 'r' },
	};
	struct recommend_opts o = {};
	struct pt_req req = { .type = PT_RECOMMEND };
	struct pt_rep rep = {};
	int code;

	code = tool_parse_command(argc, argv, "u:H:d:jw:r:", opts, PT_ELEMENTSOF(opts),
				  opt_recommend, &o, usage, conn);
	if (code >= 0)
		return code;
	if (optind != argc || (o.json && o.write) ||
	    (o.revert && (o.user || o.holder || o.days || o.json || o.write))) {
		tool_err("usage: recommend [--user U] [--holder H] [--days N] [--json | --write "
			 "FILE]\n"
			 "       recommend --revert ID");
		return TOOL_EXIT_USAGE;
	}
	if (o.revert) {
		req.type = PT_CURTAIL_REVERT;
		req.id = (char *)o.revert;
		code = tool_call(conn, &req, &rep);
		if (code == TOOL_EXIT_OK)
			printf("%s reverted\n", o.revert);
		pt_rep_clear(&rep);
		return code;
	}
	req.user = (char *)(o.user ? o.user : "");
	req.holder = (char *)(o.holder ? o.holder : "");
	req.count = o.days;
	req.format = o.json ? PT_REC_JSON : o.write ? PT_REC_CONFIG : PT_REC_TEXT;
	code = tool_call(conn, &req, &rep);
	if (code != TOOL_EXIT_OK)
		goto out;
	if (o.json)
		code = tool_print_json_pretty(rep.text);
	else if (o.write) {
		code = write_file(o.write, rep.text);
		if (code == TOOL_EXIT_OK)
			printf("wrote %s: check it with tokend --check-config, then reload tokend "
			       "(SIGHUP)\n",
			       o.write);
	} else
		tool_print_text(rep.text);
out:
	pt_rep_clear(&rep);
	return code;
}

/* ---------------------------------------------------------------- main */

static const struct tool_command commands[] = {
	{ "list", cmd_list },	      { "revoke", cmd_revoke },
	{ "delegate", cmd_delegate }, { "pubkey", cmd_pubkey },
	{ "status", cmd_status },     { "rotate-key", cmd_rotate_key },
	{ "reseal", cmd_reseal },     { "audit", pertokctl_audit },
	{ "explain", cmd_explain },   { "check-config", cmd_check_config },
	{ "code", cmd_code },	      { "grants", cmd_grants },
	{ "grant", cmd_grant },	      { "template", cmd_template },
	{ "rpo", cmd_rpo },	      { "recommend", cmd_recommend },
};

int main(int argc, char **argv)
{
	return tool_main(argc, argv, commands, PT_ELEMENTSOF(commands), usage);
}
