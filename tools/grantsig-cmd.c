/* SPDX-License-Identifier: MIT */
/*
 * pertok grant --sign / --signed-request: consent from another machine
 * (common/grantreq.h). --request (or --sign KEYFILE) writes the request
 * text, for the host given; --sign also has ssh-keygen sign it there (as
 * the user, with the user's key: namespace pertok-grant), FILE.sig next to
 * it. On the host, any local user submits the pair with --signed-request
 * FILE --signature FILE.sig (PT_GRANT_SIGNED).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "b64.h"
#include "grantreq.h"
#include "grantsig-cmd.h"
#include "toolutil.h"
#include "util.h"

struct sig_opts {
	const char *sign, *host, *user, *output, *signed_request, *signature, *cmd, *exe, *unit;
	bool request;
	uint64_t lifetime, max_runtime;
	uint32_t uses, depth;
};

static int opt_sig(int c, const char *arg, void *u)
{
	struct sig_opts *o = u;

	switch (c) {
	case 'k':
		o->sign = arg;
		return 0;
	case 'R':
		o->request = true;
		return 0;
	case 'H':
		o->host = arg;
		return 0;
	case 'u':
		o->user = arg;
		return 0;
	case 'o':
		o->output = arg;
		return 0;
	case 'f':
		o->signed_request = arg;
		return 0;
	case 'g':
		o->signature = arg;
		return 0;
	case 'c':
		o->cmd = arg;
		return 0;
	case 'x':
		o->exe = arg;
		return 0;
	case 'U':
		o->unit = arg;
		return 0;
	case 'e':
	case 'r':
		if (pt_parse_duration(arg, c == 'e' ? &o->lifetime : &o->max_runtime) < 0) {
			tool_err("invalid duration: %s", arg);
			return -EINVAL;
		}
		return 0;
	case 'n':
	case 'd':
		if (pt_parse_u32(arg, c == 'n' ? &o->uses : &o->depth) < 0) {
			tool_err("invalid number: %s", arg);
			return -EINVAL;
		}
		return 0;
	default:
		return -EINVAL;
	}
}

int grantcred_cmd(int argc, char **argv, void (*usage)(FILE *f), struct tool_conn *conn)
{
	struct pt_req req = { .type = PT_GRANT_CREDENTIAL };
	struct pt_rep rep = {};
	int code;

	/* argv[0]: "credential" */
	code = tool_parse_command(argc, argv, "", NULL, 0, NULL, NULL, usage, conn);
	if (code >= 0)
		return code;
	if (optind + 1 != argc || !pt_name_valid(argv[optind])) {
		tool_err("usage: grant credential ID");
		return TOOL_EXIT_USAGE;
	}
	req.id = argv[optind];
	code = tool_call(conn, &req, &rep);
	if (code == TOOL_EXIT_OK)
		printf("%s\n", rep.token ? rep.token : "");
	pt_rep_clear(&rep);
	return code;
}

bool grantsig_wanted(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--sign") == 0 || strcmp(argv[i], "--request") == 0 ||
		    strcmp(argv[i], "--signed-request") == 0)
			return true;
	return false;
}

static int read_text(const char *path, char **ret)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f) {
		tool_err("cannot open %s: %s", path, strerror(errno));
		return TOOL_EXIT_REFUSED;
	}
	buf = calloc(1, PT_MAX_SIGNED + 2);
	n = buf ? fread(buf, 1, PT_MAX_SIGNED + 1, f) : 0;
	fclose(f);
	if (!buf || n > PT_MAX_SIGNED || memchr(buf, '\0', n)) {
		free(buf);
		tool_err("%s: not a text of at most %u bytes", path, PT_MAX_SIGNED);
		return TOOL_EXIT_REFUSED;
	}
	*ret = buf;
	return TOOL_EXIT_OK;
}

static int submit(const struct sig_opts *o, struct tool_conn *conn)
{
	struct pt_req req = { .type = PT_GRANT_SIGNED };
	struct pt_rep rep = {};
	char *text = NULL, *sig = NULL;
	int code;

	if (!o->signature) {
		tool_err("usage: grant --signed-request FILE --signature FILE.sig");
		return TOOL_EXIT_USAGE;
	}
	if ((code = read_text(o->signed_request, &text)) != TOOL_EXIT_OK ||
	    (code = read_text(o->signature, &sig)) != TOOL_EXIT_OK)
		goto out;
	req.signed_text = text;
	req.signature = sig;
	code = tool_call(conn, &req, &rep);
	if (code == TOOL_EXIT_OK)
		printf("granted %s\n", rep.id ? rep.id : "");
	pt_rep_clear(&rep);
out:
	free(text);
	free(sig);
	return code;
}

/* ssh-keygen -Y sign -f key -n pertok-grant file, as the caller (no shell). */
static int run_keygen(const char *key, const char *file)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execlp("ssh-keygen", "ssh-keygen", "-q", "-Y", "sign", "-f", key, "-n",
		       "pertok-grant", file, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static int make_request(const struct sig_opts *o, const char *servicer)
{
	struct pt_grant_wire_cmd cmd = { .path = (char *)o->cmd };
	struct pt_grant_spec spec = {
		.servicer = (char *)servicer,
		.servicer_exe = (char *)(o->exe ? o->exe : ""),
		.servicer_unit = (char *)(o->unit ? o->unit : ""),
		.cmds = &cmd,
		.n_cmds = 1,
		.lifetime = o->lifetime,
		.max_uses = o->uses,
		.max_runtime = o->max_runtime,
		.depth = o->depth,
	};
	struct pt_grantreq q = { .issued = pt_now_s(), .spec = &spec };
	struct passwd *pw = o->user ? NULL : getpwuid(getuid());
	char host[256], *nonce, *text = NULL;
	uint8_t raw[16];
	size_t len = 0;
	FILE *f;
	int r;

	if (!o->host && gethostname(host, sizeof(host)) < 0)
		return TOOL_EXIT_REFUSED;
	host[sizeof(host) - 1] = '\0';
	snprintf(q.host, sizeof(q.host), "%s", o->host ? o->host : host);
	snprintf(q.user, sizeof(q.user), "%s", o->user ? o->user : pw ? pw->pw_name : "");
	if (RAND_bytes(raw, sizeof(raw)) != 1 || !(nonce = pt_b64url_encode(raw, sizeof(raw)))) {
		tool_err("cannot make a nonce");
		return TOOL_EXIT_REFUSED;
	}
	snprintf(q.nonce, sizeof(q.nonce), "%s", nonce);
	free(nonce);
	if (pt_grantreq_format(&q, &text, &len) < 0) {
		tool_err("a value cannot be written in a request (a control character?)");
		return TOOL_EXIT_USAGE;
	}
	if (!o->output) {
		fwrite(text, 1, len, stdout);
		free(text);
		return TOOL_EXIT_OK;
	}
	f = fopen(o->output, "we");
	if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
		tool_err("cannot write %s: %s", o->output, strerror(errno));
		free(text);
		return TOOL_EXIT_REFUSED;
	}
	free(text);
	if (!o->sign) {
		printf("%s\n", o->output);
		return TOOL_EXIT_OK;
	}
	r = run_keygen(o->sign, o->output);
	if (r < 0) {
		tool_err("ssh-keygen -Y sign -f %s failed", o->sign);
		return TOOL_EXIT_REFUSED;
	}
	printf("%s\n%s.sig\n", o->output, o->output);
	return TOOL_EXIT_OK;
}

int grantsig_cmd(int argc, char **argv, void (*usage)(FILE *f), struct tool_conn *conn)
{
	static const struct option opts[] = {
		{ "sign", required_argument, NULL, 'k' },
		{ "request", no_argument, NULL, 'R' },
		{ "host", required_argument, NULL, 'H' },
		{ "user", required_argument, NULL, 'u' },
		{ "output", required_argument, NULL, 'o' },
		{ "signed-request", required_argument, NULL, 'f' },
		{ "signature", required_argument, NULL, 'g' },
		{ "cmd", required_argument, NULL, 'c' },
		{ "exe", required_argument, NULL, 'x' },
		{ "unit", required_argument, NULL, 'U' },
		{ "expires", required_argument, NULL, 'e' },
		{ "max-runtime", required_argument, NULL, 'r' },
		{ "uses", required_argument, NULL, 'n' },
		{ "depth", required_argument, NULL, 'd' },
	};
	struct sig_opts o = {};
	int code;

	code = tool_parse_command(argc, argv, "k:RH:u:o:f:g:c:x:U:e:r:n:d:", opts,
				  PT_ELEMENTSOF(opts), opt_sig, &o, usage, conn);
	if (code >= 0)
		return code;
	if (o.signed_request) {
		if (optind != argc || o.sign || o.request) {
			tool_err("usage: grant --signed-request FILE --signature FILE.sig");
			return TOOL_EXIT_USAGE;
		}
		return submit(&o, conn);
	}
	if (optind + 1 != argc || !pt_name_valid(argv[optind]) || !o.cmd || o.cmd[0] != '/' ||
	    !o.lifetime || (o.sign && !o.output)) {
		tool_err(
			"usage: grant --request|--sign KEYFILE --output FILE [--host H] [--user U]\n"
			"       SERVICER --cmd PATH --expires D [--uses N] [--max-runtime D]\n"
			"       [--depth N] [--exe PATH] [--unit UNIT]");
		return TOOL_EXIT_USAGE;
	}
	return make_request(&o, argv[optind]);
}
