/* SPDX-License-Identifier: MIT */
/*
 * pertok: the user's tool. Reads the live token from the session keyring,
 * lists and revokes the user's persistable tokens, asks for one explicitly.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <keyutils.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "grant-cmd.h"
#include "jws.h"
#include "ptjson.h"
#include "grantsig-cmd.h"
#include "toolutil.h"
#include "util.h"

#define KEY_DESC "pertok:live"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"Commands:\n"
		"  token used ENTITLEMENT | token used --group GROUP\n"
		"                          tell tokend this job used an entitlement or group\n"
		"                          of its live token (keeps it from being curtailed)\n"
		"  token [--claims] [--refresh [-v]]\n"
		"                          print the live token in this session's keyring\n"
		"                          (--claims: its decoded payload, not verified;\n"
		"                          --refresh: first trade it, still valid, for a\n"
		"                          fresh one, which replaces it in the keyring,\n"
		"                          once at most half of its lifetime is left;\n"
		"                          before that, leave it: -v says so on stderr)\n"
		"  list [--json]           list your persistable tokens\n"
		"  status                  each token's time left, last success and last\n"
		"                          refusal (when, which rule, why)\n"
		"  revoke ID               revoke one of your persistable tokens\n"
		"  revoke --all            revoke all of your persistable tokens\n"
		"  delegate ID HOLDER      move one of your tokens to another holder (actor)\n"
		"                          on this host: only HOLDER may redeem it then\n"
		"  persist --holder NAME [--lifetime DURATION]\n"
		"                          exchange the live token for a persistable token\n"
		"                          that NAME may redeem (DURATION: 30d, 12h, ...)\n"
		"  act-as USER {--grant ID | --grant-credential FILE} [--pty] -- COMMAND [ARG...]\n"
		"                          run COMMAND (an absolute path) as USER under a\n"
		"                          grant USER gave you; exits with its status\n"
		"  grant SERVICER --cmd PATH --expires D [--uses N] [--hours HH-HH]\n"
		"        [--max-runtime D] [--depth N] [--exe PATH] [--unit UNIT]\n"
		"        [--read PATH]... [--write PATH]... [--no-network]\n"
		"        [--args|--args-prefix [--] ARG...]\n"
		"                          let SERVICER run PATH as you (see pertok(1))\n"
		"  grants                  your grants, as user and as servicer\n"
		"  grant revoke ID         revoke a grant (and what was delegated from it)\n"
		"  grant delegate ID SERVICER2 --cmd PATH [narrower options]\n"
		"                          pass a grant you hold on, narrower\n"
		"  grant request USER --cmd PATH [--args ARG...] [--uses N] [--expires D]\n"
		"                          ask USER for a grant\n"
		"  grant requests          pending requests to you and by you, with proposals\n"
		"  grant approve ID [--cmd PATH [narrower options]]\n"
		"                          grant a request (its proposal, or narrower)\n"
		"  grant deny ID           refuse a request\n"
		"  grant credential ID     print the grant as a signed credential (JWS) for\n"
		"                          its servicer (the grant must name --exe)\n"
		"  grant --request|--sign KEYFILE [--host H] [--user U] SERVICER --cmd PATH\n"
		"        --expires D [scope options] [--output FILE]\n"
		"                          a consent request for tokend's host, to sign with\n"
		"                          your SSH key (--sign: ssh-keygen -Y sign)\n"
		"  grant --signed-request FILE --signature FILE.sig\n"
		"                          submit a signed consent request: the grant is\n"
		"                          made as if its user had made it here\n"
		"\n"
		"Options:\n"
		"  -s, --socket PATH       tokend's socket (default %s)\n"
		"  -t, --timeout MS        timeout per request (default %d)\n"
		"  -h, --help              show this help\n"
		"  -V, --version           show the version\n"
		"\n"
		"Exit status: 0 ok, 1 refused or failed, 2 usage, 3 cannot reach tokend.\n",
		program_invocation_short_name, pt_default_socket(), TOOL_TIMEOUT_DEFAULT);
}

/* Reads the live token (secret; caller pt_free_secret()s) and, when
 * ret_key is not NULL, its key. Exit code. */
static int read_live_token(char **ret, key_serial_t *ret_key)
{
	void *buf = NULL;
	long key;
	int n;

	key = keyctl_search(KEY_SPEC_SESSION_KEYRING, "user", KEY_DESC, 0);
	if (key < 0) {
		if (errno == ENOKEY || errno == EKEYEXPIRED || errno == EKEYREVOKED)
			tool_err("no live token in this session's keyring");
		else
			tool_err("cannot search the session keyring: %s", strerror(errno));
		return TOOL_EXIT_REFUSED;
	}
	n = keyctl_read_alloc((key_serial_t)key, &buf);
	if (n < 0) {
		if (errno == EKEYEXPIRED || errno == EKEYREVOKED || errno == ENOKEY)
			tool_err("no live token in this session's keyring");
		else
			tool_err("cannot read the live token: %s", strerror(errno));
		return TOOL_EXIT_REFUSED;
	}
	/* keyctl_read_alloc NUL-terminates; a token has no NUL of its own. */
	if (n == 0 || memchr(buf, '\0', (size_t)n)) {
		pt_wipe(buf, (size_t)n);
		free(buf);
		tool_err("the key %s does not hold a token", KEY_DESC);
		return TOOL_EXIT_REFUSED;
	}
	*ret = buf;
	if (ret_key)
		*ret_key = (key_serial_t)key;
	return TOOL_EXIT_OK;
}

/* Trades the live token *token (key `key`) for a fresh one from tokend
 * (PT_REFRESH), which replaces it in the key, with the new expiry as the
 * key's timeout; *token is then the new one. Exit code. */
static int refresh_live_token(struct tool_conn *conn, key_serial_t key, char **token)
{
	struct pt_req req = { .type = PT_REFRESH, .live_token = *token };
	struct pt_rep rep = {};
	uint64_t now = pt_now_s();
	int code;

	code = tool_call(conn, &req, &rep);
	if (code != TOOL_EXIT_OK)
		goto out;
	if (!rep.token || !*rep.token || rep.exp <= now) {
		tool_err("tokend answered without a valid live token");
		code = TOOL_EXIT_REFUSED;
		goto out;
	}
	if (keyctl_update(key, rep.token, strlen(rep.token)) < 0 ||
	    keyctl_set_timeout(key, rep.exp - now > UINT32_MAX ? UINT32_MAX :
								 (unsigned)(rep.exp - now)) < 0) {
		tool_err("cannot put the new live token in the keyring: %s", strerror(errno));
		code = TOOL_EXIT_REFUSED;
		goto out;
	}
	pt_free_secret(*token);
	*token = rep.token;
	rep.token = NULL;
out:
	pt_rep_clear(&rep);
	return code;
}

/* Is the live token due for a refresh now (pt_refresh_from, the rule
 * tokend applies)? Not while more than half of its lifetime is left: then
 * false, and with verbose a line on stderr saying from when. A token whose
 * iat and exp cannot be read is due (tokend says what is wrong with it). */
static bool refresh_due(const char *token, uint64_t now, bool verbose)
{
	char *header = NULL, *payload = NULL, left[32], of[32], from_text[32];
	json_object *o = NULL, *v;
	int64_t iat = 0, exp = 0;
	uint64_t from;
	bool due = true;

	if (pt_jws_decode_unverified(token, &header, &payload) < 0 ||
	    pt_json_parse_strict(payload, strlen(payload), PT_MAX_TOKEN, 8, &o) < 0)
		goto out;
	if (json_object_object_get_ex(o, "iat", &v) && json_object_is_type(v, json_type_int))
		iat = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "exp", &v) && json_object_is_type(v, json_type_int))
		exp = json_object_get_int64(v);
	if (iat <= 0 || exp <= iat)
		goto out;
	from = pt_refresh_from((uint64_t)iat, (uint64_t)exp);
	due = now >= from;
	if (!due && verbose)
		tool_err("not refreshed: the live token has %s left of %s; it is refreshed from %s "
			 "(at most half left)",
			 pt_left_text((uint64_t)exp, now, left, sizeof(left)),
			 pt_left_text((uint64_t)exp, (uint64_t)iat, of, sizeof(of)),
			 tool_time(from, from_text, sizeof(from_text)));
out:
	json_object_put(o);
	free(header);
	pt_free_secret(payload);
	return due;
}

/* ---------------------------------------------------------------- token */

struct token_opts {
	bool claims, refresh, verbose, group;
};

static int opt_token(int c, const char *arg, void *u)
{
	struct token_opts *t = u;

	(void)arg;
	if (c == 'c')
		t->claims = true;
	else if (c == 'r')
		t->refresh = true;
	else if (c == 'v')
		t->verbose = true;
	else if (c == 'g')
		t->group = true;
	else
		return -EINVAL;
	return 0;
}

/* token used ENT | token used --group G: PT_USED with the keyring's live
 * token as proof (tokend checks it is the caller's and carries the name). */
static int token_used(struct tool_conn *conn, bool group, const char *name)
{
	struct pt_req req = { .type = PT_USED };
	struct pt_rep rep = {};
	char *token = NULL;
	int code;

	code = read_live_token(&token, NULL);
	if (code != TOOL_EXIT_OK)
		return code;
	req.live_token = token;
	req.format = group ? PT_USED_GROUP : PT_USED_ENTITLEMENT;
	req.name = (char *)name;
	code = tool_call(conn, &req, &rep);
	if (code == TOOL_EXIT_OK)
		printf("%s %s: %" PRIu32 " uses recorded\n", group ? "group" : "entitlement", name,
		       rep.count);
	pt_rep_clear(&rep);
	pt_free_secret(token);
	return code;
}

static int cmd_token(int argc, char **argv, struct tool_conn *conn)
{
	static const struct option opts[] = { { "claims", no_argument, NULL, 'c' },
					      { "refresh", no_argument, NULL, 'r' },
					      { "verbose", no_argument, NULL, 'v' },
					      { "group", no_argument, NULL, 'g' } };
	char *token = NULL, *header = NULL, *payload = NULL;
	struct token_opts t = {};
	key_serial_t key = 0;
	bool claims;
	int code, r;

	code = tool_parse_command(argc, argv, "crvg", opts, PT_ELEMENTSOF(opts), opt_token, &t,
				  usage, conn);
	if (code >= 0)
		return code;
	if (optind < argc && strcmp(argv[optind], "used") == 0) {
		if (optind + 2 != argc || t.claims || t.refresh || t.verbose) {
			tool_err("usage: token used ENTITLEMENT | token used --group GROUP");
			return TOOL_EXIT_USAGE;
		}
		return token_used(conn, t.group, argv[optind + 1]);
	}
	if (optind != argc || t.group) {
		tool_err(t.group ? "token: --group goes with used only" :
				   "token takes no arguments");
		return TOOL_EXIT_USAGE;
	}
	if (t.verbose && !t.refresh) {
		tool_err("token: -v (--verbose) goes with --refresh only");
		return TOOL_EXIT_USAGE;
	}
	claims = t.claims;

	code = read_live_token(&token, &key);
	if (code != TOOL_EXIT_OK)
		return code;
	/* the loop of pertok(1) calls this every few minutes: it asks tokend
	 * only when the token is due, else prints the one it has (exit 0) */
	if (t.refresh && refresh_due(token, pt_now_s(), t.verbose) &&
	    (code = refresh_live_token(conn, key, &token)) != TOOL_EXIT_OK)
		goto out;
	if (!claims) {
		printf("%s\n", token);
		goto out;
	}
	r = pt_jws_decode_unverified(token, &header, &payload);
	if (r < 0) {
		tool_err("the live token is malformed");
		code = TOOL_EXIT_REFUSED;
		goto out;
	}
	code = tool_print_json_pretty(payload);
out:
	free(header);
	pt_free_secret(payload);
	pt_free_secret(token);
	return code;
}

/* ---------------------------------------------------------------- list */

static int cmd_list(int argc, char **argv, struct tool_conn *conn)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' } };
	struct pt_req req = { .type = PT_LIST, .user = (char *)"" };
	struct pt_rep rep = {};
	bool json = false;
	int code;

	code = tool_parse_command(argc, argv, "j", opts, PT_ELEMENTSOF(opts), tool_opt_flag, &json,
				  usage, conn);
	if (code >= 0)
		return code;
	if (optind != argc) {
		tool_err("list takes no arguments");
		return TOOL_EXIT_USAGE;
	}
	code = tool_call(conn, &req, &rep);
	if (code == TOOL_EXIT_OK)
		code = tool_print_list(&rep, json);
	pt_rep_clear(&rep);
	return code;
}

/* ---------------------------------------------------------------- status */

/* One token, for a person: how long it has left, the last job it let run
 * and the last one refused, with tokend's reason. */
static void print_status(const struct pt_tokinfo *t, uint64_t now)
{
	char a[64], b[64];

	/* the user too: root sees every user's tokens here */
	printf("%s  user %s  holder %s\n", t->id ? t->id : "", t->user ? t->user : "",
	       t->holder ? t->holder : "");
	printf("  expires       %s (%s%s)\n", tool_time(t->exp, a, sizeof(a)),
	       pt_left_text(t->exp, now, b, sizeof(b)), t->exp > now ? " left" : "");
	if (t->last_used)
		printf("  last success  %s (%u use%s in all)\n",
		       tool_time(t->last_used, a, sizeof(a)), (unsigned)t->uses,
		       t->uses == 1 ? "" : "s");
	else
		printf("  last success  never\n");
	if (t->refused_at)
		printf("  last refusal  %s%s%s: %s (%u refusal%s in all)\n",
		       tool_time(t->refused_at, a, sizeof(a)),
		       t->refusal_rule && *t->refusal_rule ? ", rule " : "",
		       t->refusal_rule && *t->refusal_rule ? t->refusal_rule : "",
		       t->refusal_reason && *t->refusal_reason ? t->refusal_reason : "refused",
		       (unsigned)t->refusals, t->refusals == 1 ? "" : "s");
	else
		printf("  last refusal  never\n");
}

static int cmd_status(int argc, char **argv, struct tool_conn *conn)
{
	struct pt_req req = { .type = PT_LIST, .user = (char *)"" };
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
	if (code == TOOL_EXIT_OK) {
		uint64_t now = (uint64_t)time(NULL);

		if (rep.n_list == 0)
			printf("no persistable tokens\n");
		for (uint32_t i = 0; i < rep.n_list; i++)
			print_status(&rep.list[i], now);
	}
	pt_rep_clear(&rep);
	return code;
}

/* -------------------------------------------------------------- delegate */

static int cmd_delegate(int argc, char **argv, struct tool_conn *conn)
{
	return tool_delegate(argc, argv, conn, usage);
}

/* ---------------------------------------------------------------- revoke */

static int cmd_revoke(int argc, char **argv, struct tool_conn *conn)
{
	static const struct option opts[] = { { "all", no_argument, NULL, 'a' } };
	struct pt_req req = { .type = PT_REVOKE };
	bool all = false;
	int code;

	code = tool_parse_command(argc, argv, "a", opts, PT_ELEMENTSOF(opts), tool_opt_flag, &all,
				  usage, conn);
	if (code >= 0)
		return code;
	if (all) {
		/* tokend limits an unprivileged caller to its own uid's tokens anyway */
		struct passwd *pw = getpwuid(getuid());

		if (optind != argc) {
			tool_err("usage: revoke ID | revoke --all");
			return TOOL_EXIT_USAGE;
		}
		if (!pw || !pt_name_valid(pw->pw_name)) {
			tool_err("cannot find your user name");
			return TOOL_EXIT_REFUSED;
		}
		req.type = PT_REVOKE_MATCH;
		req.user = pw->pw_name;
		req.holder = (char *)"";
		return tool_revoke(conn, &req);
	}
	if (optind + 1 != argc || !pt_name_valid(argv[optind])) {
		tool_err("usage: revoke ID | revoke --all");
		return TOOL_EXIT_USAGE;
	}
	req.id = argv[optind];
	return tool_revoke(conn, &req);
}

/* ---------------------------------------------------------------- persist */

struct persist_opts {
	const char *holder;
	uint64_t lifetime;
};

static int opt_persist(int c, const char *arg, void *u)
{
	struct persist_opts *p = u;

	switch (c) {
	case 'H':
		if (!pt_name_valid(arg)) {
			tool_err("invalid holder name: %s", arg);
			return -EINVAL;
		}
		p->holder = arg;
		return 0;
	case 'l':
		if (pt_parse_duration(arg, &p->lifetime) < 0) {
			tool_err("invalid lifetime: %s (seconds, or a number with s, m, h, d, w)",
				 arg);
			return -EINVAL;
		}
		return 0;
	default:
		return -EINVAL;
	}
}

static int cmd_persist(int argc, char **argv, struct tool_conn *conn)
{
	static const struct option opts[] = {
		{ "holder", required_argument, NULL, 'H' },
		{ "lifetime", required_argument, NULL, 'l' },
	};
	struct persist_opts p = {};
	struct pt_req req = { .type = PT_EXCHANGE };
	struct pt_rep rep = {};
	char *token = NULL;
	char when[64];
	int code;

	code = tool_parse_command(argc, argv, "H:l:", opts, PT_ELEMENTSOF(opts), opt_persist, &p,
				  usage, conn);
	if (code >= 0)
		return code;
	if (optind != argc || !p.holder) {
		tool_err("usage: persist --holder NAME [--lifetime DURATION]");
		return TOOL_EXIT_USAGE;
	}

	code = read_live_token(&token, NULL);
	if (code != TOOL_EXIT_OK)
		return code;
	req.live_token = token;
	req.holder = (char *)p.holder;
	req.lifetime = p.lifetime;
	code = tool_call(conn, &req, &rep);
	if (code == TOOL_EXIT_OK)
		printf("%s holder=%s expires=%s%s\n", rep.id ? rep.id : "", p.holder,
		       tool_time(rep.exp, when, sizeof(when)), rep.renewed ? " renewed" : "");
	pt_rep_clear(&rep);
	pt_free_secret(token);
	return code;
}

/* ---------------------------------------------------------------- act-as */

struct act_opts {
	const char *grant;
	const char *cred_file; /* --grant-credential */
	bool pty;
};

static int opt_act(int c, const char *arg, void *u)
{
	struct act_opts *a = u;

	switch (c) {
	case 'g':
		if (!pt_name_valid(arg)) {
			tool_err("invalid grant id: %s", arg);
			return -EINVAL;
		}
		a->grant = arg;
		return 0;
	case 'p':
		a->pty = true;
		return 0;
	case 'C':
		a->cred_file = arg;
		return 0;
	default:
		return -EINVAL;
	}
}

/* tokend runs the command (act.h) with this process's stdin, stdout and
 * stderr, passed with the request; the reply is its exit status. */
static int cmd_act_as(int argc, char **argv, struct tool_conn *conn)
{
	static const struct option opts[] = {
		{ "grant", required_argument, NULL, 'g' },
		{ "pty", no_argument, NULL, 'p' },
		{ "grant-credential", required_argument, NULL, 'C' },
	};
	const char *path = conn->socket ? conn->socket : pt_default_socket();
	struct act_opts a = {};
	struct pt_req req = { .type = PT_ACT };
	struct pt_rep rep = {};
	struct pt_client *c = NULL;
	const int fds[PT_ACT_NFDS] = { 0, 1, 2 };
	char *cred = NULL;
	size_t cred_len = 0;
	int code, r;

	code = tool_parse_command(argc, argv, "g:pC:", opts, PT_ELEMENTSOF(opts), opt_act, &a,
				  usage, conn);
	if (code >= 0)
		return code;
	if (argc - optind < 2 || (!a.grant && !a.cred_file)) {
		tool_err("usage: act-as USER {--grant ID | --grant-credential FILE} [--pty] -- "
			 "COMMAND [ARG...]");
		return TOOL_EXIT_USAGE;
	}
	if (!pt_name_valid(argv[optind])) {
		tool_err("invalid user name: %s", argv[optind]);
		return TOOL_EXIT_USAGE;
	}
	if (argv[optind + 1][0] != '/' || (size_t)(argc - optind - 1) > PT_MAX_ARGV) {
		tool_err("the command must be an absolute path (and at most %u arguments)",
			 PT_MAX_ARGV);
		return TOOL_EXIT_USAGE;
	}
	if (a.cred_file) {
		/* the grant as PT_GRANT_CREDENTIAL gave it (one line) */
		r = tool_read_file(a.cred_file, PT_MAX_TOKEN + 1, &cred, &cred_len);
		if (r < 0) {
			tool_err("cannot read the grant credential %s: %s", a.cred_file,
				 r == -EFBIG ? "larger than a credential" : strerror(-r));
			return TOOL_EXIT_USAGE;
		}
		while (cred_len > 0 && (cred[cred_len - 1] == '\n' || cred[cred_len - 1] == '\r'))
			cred[--cred_len] = '\0';
		if (cred_len == 0 || cred_len > PT_MAX_TOKEN || strlen(cred) != cred_len) {
			tool_err("%s holds no grant credential", a.cred_file);
			pt_free_secret(cred);
			return TOOL_EXIT_USAGE;
		}
	}
	req.user = argv[optind];
	req.id = (char *)(a.grant ? a.grant : "");
	req.flags = (a.pty ? PT_ACT_PTY : 0) | (cred ? PT_ACT_CRED : 0);
	req.credential = cred;
	req.argv = argv + optind + 1;
	req.n_argv = (uint32_t)(argc - optind - 1);
	r = pt_client_connect(path, conn->timeout_ms > 0 ? conn->timeout_ms : TOOL_TIMEOUT_DEFAULT,
			      &c);
	/* the command's time is the grant's to bound, not the request timeout */
	if (r >= 0)
		r = pt_client_call_fds(c, &req, fds, PT_ACT_NFDS, 24 * 3600 * 1000, &rep);
	if (r < 0) {
		tool_err("cannot reach tokend at %s: %s", path, strerror(-r));
		code = TOOL_EXIT_UNREACHABLE;
	} else if (rep.type != PT_OK) {
		tool_err("tokend: %s",
			 rep.message && *rep.message ? rep.message : pt_errcode_name(rep.err_code));
		code = TOOL_EXIT_REFUSED;
	} else
		code = (int)rep.status;
	pt_rep_clear(&rep);
	pt_client_free(c);
	pt_free_secret(cred);
	return code;
}

/* ---------------------------------------------------------------- grants */

static int cmd_grant(int argc, char **argv, struct tool_conn *conn)
{
	if (grantsig_wanted(argc, argv))
		return grantsig_cmd(argc, argv, usage, conn);
	if (argc > 1 && strcmp(argv[1], "credential") == 0)
		return grantcred_cmd(argc - 1, argv + 1, usage, conn);
	return grant_cmd_user(argc, argv, usage, conn);
}

static int cmd_grants(int argc, char **argv, struct tool_conn *conn)
{
	return grant_cmd_list(argc, argv, usage, conn);
}

/* ---------------------------------------------------------------- main */

static const struct tool_command commands[] = {
	{ "token", cmd_token },	  { "list", cmd_list },	      { "status", cmd_status },
	{ "revoke", cmd_revoke }, { "persist", cmd_persist }, { "grant", cmd_grant },
	{ "grants", cmd_grants }, { "act-as", cmd_act_as },   { "delegate", cmd_delegate },
};

int main(int argc, char **argv)
{
	return tool_main(argc, argv, commands, PT_ELEMENTSOF(commands), usage);
}
