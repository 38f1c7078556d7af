/* SPDX-License-Identifier: MIT */
/*
 * pertokctl audit verify | show: reads tokend's audit log directly (root:
 * the file is 0600) and checks its hash chain, its signed checkpoints and
 * the head file (common/auditlog.h).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit-cmd.h"
#include "auditlog.h"
#include "toolutil.h"
#include "util.h"

#define DEFAULT_AUDIT_LOG LOCALSTATEDIR "/lib/pertok/audit.log"
#define KEYFILE_MAX (64 * 1024)
/* verify: no tampering found, but the newest file ends with an incomplete
 * line that tokend has not recorded yet (pertokctl(8)) */
#define TOOL_EXIT_CRASH_TRUNCATED 4

struct audit_opts {
	const char *file;
	const char *head;
	const char *pubkey;
	const char *jwks;
	const char *user;
	uint64_t since;
	bool no_head;
	const char *rpo; /* audit rpo RPO: its id or name */
};

static void audit_usage(FILE *f)
{
	fprintf(f,
		"Usage: %s audit verify [--file LOG] [--head FILE | --no-head]\n"
		"                       [--pubkey PEM-FILE | --jwks JWKS-FILE]\n"
		"       %s audit show [--file LOG] [--user USER] [--since WHEN]\n"
		"       %s audit rpo RPO [--file LOG]\n"
		"\n"
		"  verify   check the log's hash chain, its signed checkpoints and audit.head\n"
		"  show     print the decisions (WHEN: seconds since the epoch, or a duration\n"
		"           back from now such as 2h or 7d)\n"
		"  rpo      every access by a remote principal (its id or name), from its\n"
		"           approval to its expiry\n"
		"\n"
		"  --file LOG        the audit log (default %s)\n"
		"  --head FILE       the head file (default: audit.head next to the log)\n"
		"  --pubkey PEM      verify checkpoints with this public key (else tokend's JWK set)\n"
		"  --jwks FILE       ... or with the keys of this JWK set\n",
		program_invocation_short_name, program_invocation_short_name,
		program_invocation_short_name, DEFAULT_AUDIT_LOG);
}

static int opt_audit(int c, const char *arg, void *u)
{
	struct audit_opts *o = u;
	uint64_t v;

	switch (c) {
	case 'f':
		o->file = arg;
		return 0;
	case 'H':
		o->head = arg;
		return 0;
	case 'N':
		o->no_head = true;
		return 0;
	case 'p':
		o->pubkey = arg;
		return 0;
	case 'j':
		o->jwks = arg;
		return 0;
	case 'u':
		if (!pt_name_valid(arg)) {
			tool_err("invalid user name: %s", arg);
			return -EINVAL;
		}
		o->user = arg;
		return 0;
	case 'S':
		if (arg[0] >= '0' && arg[0] <= '9' && pt_parse_u64(arg, &v) == 0 && v > 1000000) {
			o->since = v; /* an absolute time */
			return 0;
		}
		if (pt_parse_duration(arg, &v) < 0 || v > pt_now_s()) {
			tool_err("--since: not a time or a duration: %s", arg);
			return -EINVAL;
		}
		o->since = pt_now_s() - v;
		return 0;
	default:
		return -EINVAL;
	}
}

/* The checkpoint keys: a PEM file, a JWKS file, or tokend's JWK set. */
static int load_keys(struct pt_audit_verifier *v, const struct audit_opts *o,
		     struct tool_conn *conn)
{
	char *text = NULL;
	size_t n = 0;
	int r, code = TOOL_EXIT_OK;

	if (o->pubkey) {
		FILE *f = fopen(o->pubkey, "re");
		EVP_PKEY *k;

		if (!f) {
			tool_err("cannot open %s: %s", o->pubkey, strerror(errno));
			return TOOL_EXIT_REFUSED;
		}
		k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
		fclose(f);
		r = k ? pt_audit_verifier_add_key(v, k) : -EINVAL;
		EVP_PKEY_free(k);
		if (r < 0) {
			tool_err("%s: not an Ed25519 public key (PEM)", o->pubkey);
			return TOOL_EXIT_REFUSED;
		}
		return TOOL_EXIT_OK;
	}
	if (o->jwks) {
		r = tool_read_file(o->jwks, KEYFILE_MAX, &text, &n);
		if (r < 0) {
			tool_err("cannot read %s: %s", o->jwks, strerror(-r));
			return TOOL_EXIT_REFUSED;
		}
	} else {
		struct pt_req req = { .type = PT_PUBKEY, .format = PT_PUBKEY_JWKS };
		struct pt_rep rep = {};

		code = tool_call(conn, &req, &rep);
		if (code != TOOL_EXIT_OK) {
			tool_err(
				"cannot get tokend's keys to check the checkpoints; give them with "
				"--pubkey or --jwks");
			return code;
		}
		text = strdup(rep.text ? rep.text : "");
		n = text ? strlen(text) : 0;
		pt_rep_clear(&rep);
		if (!text)
			return TOOL_EXIT_REFUSED;
	}
	r = pt_audit_verifier_add_jwks(v, text, n);
	free(text);
	if (r < 0) {
		tool_err("%s: no Ed25519 key in the JWK set", o->jwks ? o->jwks : "tokend");
		return TOOL_EXIT_REFUSED;
	}
	return TOOL_EXIT_OK;
}

static char *default_head(const char *file)
{
	const char *slash = strrchr(file, '/');
	char *p = NULL;

	if (!slash)
		return strdup("audit.head");
	if (asprintf(&p, "%.*s/audit.head", (int)(slash - file), file) < 0)
		return NULL;
	return p;
}

/* The rotated files of log that exist, oldest first (LOG.N ... LOG.1), then
 * LOG itself: the order of the chain. Numbering stops at the first gap
 * after LOG.1 (a missing LOG.K in the middle shows as a seq jump). */
#define MAX_ROTATED 1000
static int list_files(const char *log, char ***ret, size_t *ret_n)
{
	char **v = NULL, path[PATH_MAX];
	size_t n = 0, top = 0;

	for (size_t i = 1; i <= MAX_ROTATED; i++) {
		snprintf(path, sizeof(path), "%s.%zu", log, i);
		if (access(path, F_OK) == 0)
			top = i;
		else if (i > top + 1)
			break; /* allow one gap (a deleted file) before stopping */
	}
	v = calloc(top + 2, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = top; i >= 1; i--) {
		snprintf(path, sizeof(path), "%s.%zu", log, i);
		if (access(path, F_OK) == 0 && !(v[n++] = strdup(path)))
			goto oom;
	}
	if (!(v[n++] = strdup(log)))
		goto oom;
	*ret = v;
	*ret_n = n;
	return 0;
oom:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return -ENOMEM;
}

static int cmd_verify(const struct audit_opts *o, struct tool_conn *conn)
{
	struct pt_audit_verifier *v = NULL;
	struct pt_audit_result res = {};
	_cleanup_free_ char *head_path = NULL;
	char *head = NULL, **files = NULL;
	size_t headlen = 0, n_files = 0;
	int code, r;

	r = list_files(o->file, &files, &n_files);
	if (r < 0 || pt_audit_verifier_new(&v) < 0) {
		tool_err("out of memory");
		code = TOOL_EXIT_REFUSED;
		goto out;
	}
	code = load_keys(v, o, conn);
	if (code != TOOL_EXIT_OK)
		goto out;
	head_path = o->head ? strdup(o->head) : default_head(o->file);
	if (!o->no_head && head_path) {
		r = tool_read_file(head_path, PT_AUDIT_HEAD_MAX, &head, &headlen);
		if (r == 0)
			pt_audit_verifier_set_head(v, head, headlen);
		else if (r != -ENOENT || o->head) {
			tool_err("cannot read %s: %s", head_path, strerror(-r));
			code = TOOL_EXIT_REFUSED;
			goto out;
		}
	}
	for (size_t i = 0; i < n_files; i++) {
		FILE *f = fopen(files[i], "re");

		if (!f) {
			tool_err("cannot open %s: %s", files[i], strerror(errno));
			code = TOOL_EXIT_REFUSED;
			goto out;
		}
		pt_audit_verifier_file(v, files[i]);
		r = pt_audit_verify_stream(v, f);
		fclose(f);
		if (r < 0) {
			tool_err("cannot read %s: %s", files[i], strerror(-r));
			code = TOOL_EXIT_REFUSED;
			goto out;
		}
	}
	pt_audit_verifier_finish(v, &res);
	if (!o->no_head && !res.head_checked && res.n_checkpoints > 0) {
		/* a log with checkpoints but no head: the head was removed */
		res.n_problems_total++;
		if (res.n_problems < PT_AUDIT_MAX_PROBLEMS &&
		    asprintf(&res.problems[res.n_problems],
			     "%s is missing: truncation after the "
			     "last checkpoint cannot be checked",
			     head_path ? head_path : "audit.head") >= 0)
			res.n_problems++;
	}
	for (size_t i = 0; i < res.n_problems; i++)
		printf("%s\n", res.problems[i]);
	if (res.n_problems_total > res.n_problems)
		printf("... and %" PRIu64 " more problem(s)\n",
		       res.n_problems_total - res.n_problems);
	for (size_t i = 0; i < res.n_crash; i++)
		printf("%s\n", res.crash[i]);
	if (res.n_problems_total) {
		printf("FAILED: %" PRIu64 " problem(s) in %s (%zu file(s), %" PRIu64
		       " lines, %" PRIu64 " records, %" PRIu64 " valid checkpoints)\n",
		       res.n_problems_total, o->file, n_files, res.n_lines, res.n_records,
		       res.n_checkpoints);
		code = TOOL_EXIT_REFUSED;
	} else {
		printf("%s: %" PRIu64 " records, %" PRIu64
		       " checkpoints, last checkpoint seq %" PRIu64 "\n",
		       res.torn_pending ? "CRASH-TRUNCATED" : "OK", res.n_records,
		       res.n_checkpoints, res.last_checkpoint_seq);
		if (n_files > 1)
			printf("note: %zu files checked in order, %s.%zu (oldest) to %s\n", n_files,
			       o->file, n_files - 1, o->file);
		if (res.rotated_out)
			printf("note: the oldest file starts at seq %" PRIu64
			       ": older files were rotated out and deleted (audit { rotate_keep })\n",
			       res.first_seq);
		if (res.unsigned_tail)
			printf("note: %" PRIu64
			       " line(s) after the last checkpoint are chained but "
			       "not yet signed\n",
			       res.unsigned_tail);
		if (res.unknown_covered)
			printf("note: %" PRIu64
			       " checkpoint(s) by keys not given (rotated out) are "
			       "covered by later checkpoints\n",
			       res.unknown_covered);
		if (o->no_head || !res.head_checked)
			printf("note: no audit.head was checked: a cut after the last checkpoint "
			       "would not show\n");
		code = res.torn_pending ? TOOL_EXIT_CRASH_TRUNCATED : TOOL_EXIT_OK;
	}
out:
	pt_audit_result_clear(&res);
	pt_audit_verifier_free(v);
	free(head);
	for (size_t i = 0; i < n_files; i++)
		free(files[i]);
	free(files);
	return code;
}

/* Control bytes (a JSON string may hold any, as \\u001b or \\n) to '?', in
 * place: the records carry what callers, PAM items and external issuers'
 * tokens chose (reasons, rhost, acr, amr, ...), and show and rpo print
 * them to the administrator's terminal. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* The next line of f (at most PT_AUDIT_MAX_LINE bytes) parsed into *e
 * (its strings printable()): pt_audit_parse_line's result, -EMSGSIZE for
 * an overlong or incomplete line (skipped to its end), -ENODATA at the end
 * of the file. */
static int next_line(FILE *f, char *line, struct pt_audit_entry *e)
{
	char *const str[] = { e->type,	 e->reason, e->op,	e->result, e->user,
			      e->holder, e->id,	    e->service, e->actor,  e->sub_hmac,
			      e->rhost,	 e->iss,    e->acr,	e->amr };
	size_t n;
	int c, r;

	if (!fgets(line, PT_AUDIT_MAX_LINE + 2, f))
		return -ENODATA;
	n = strlen(line);
	if (n == 0 || line[n - 1] != '\n') {
		while ((c = getc(f)) != EOF && c != '\n')
			;
		return -EMSGSIZE;
	}
	line[--n] = '\0';
	r = pt_audit_parse_line(line, n, e);
	if (r == 0 || r == -EILSEQ)
		for (size_t i = 0; i < PT_ELEMENTSOF(str); i++)
			printable(str[i]);
	return r;
}

/* Opens a log for next_line: the file and a line buffer (both to free),
 * or -errno (said). */
static int open_log(const char *path, FILE **ret_f, char **ret_line)
{
	char *line = malloc(PT_AUDIT_MAX_LINE + 2);
	FILE *f = fopen(path, "re");

	if (!f || !line) {
		tool_err("cannot open %s: %s", path, strerror(errno));
		free(line);
		if (f)
			fclose(f);
		return -EIO;
	}
	*ret_f = f;
	*ret_line = line;
	return 0;
}

static int show_file(const struct audit_opts *o, const char *path)
{
	struct pt_audit_entry e;
	int r;
	char *line = NULL;
	FILE *f = NULL;
	uint64_t lineno = 0;
	int code = TOOL_EXIT_OK;

	if (open_log(path, &f, &line) < 0)
		return TOOL_EXIT_REFUSED;
	while ((r = next_line(f, line, &e)) != -ENODATA) {
		char when[32];

		lineno++;
		if (r == -EMSGSIZE) {
			printf("%-20s %8s (line %" PRIu64 ": overlong or incomplete)\n", "-", "-",
			       lineno);
			continue;
		}
		if (r == -EBADMSG || r == -ENOMEM || r == -EIO) {
			printf("%-20s %8s (line %" PRIu64 ": not an audit record)\n", "-", "-",
			       lineno);
			continue;
		}
		if (e.time < o->since || (o->user && strcmp(e.user, o->user) != 0))
			continue;
		if (strcmp(e.type, "checkpoint") == 0 && r == 0)
			continue; /* noise here: audit verify checks them */
		if (strcmp(e.type, "record") != 0 && o->user)
			continue;
		tool_time(e.time, when, sizeof(when));
		if (strcmp(e.type, "record") == 0)
			printf("%-20s %8" PRIu64 " %-10s %-8s %-12s %-12s %s%s\n", when, e.seq,
			       e.op, e.result, e.user[0] ? e.user : "-",
			       e.holder[0] ? e.holder : "-", e.reason[0] ? e.reason : "-",
			       r == -EILSEQ ? " [HASH MISMATCH]" : "");
		else
			printf("%-20s %8" PRIu64 " (%s%s%s)%s\n", when, e.seq, e.type,
			       e.reason[0] ? ": " : "", e.reason,
			       r == -EILSEQ ? " [HASH MISMATCH]" : "");
	}
	if (ferror(f))
		code = TOOL_EXIT_REFUSED;
	free(line);
	fclose(f);
	return code;
}

/* Does the record concern the RPO (id, name): named as the user (its
 * approval, extension, revocation, expiry, the tokens minted for it, and
 * the accept mode's rpo.accept / rpo.deny for it), by id, or among the
 * "rpos=" of an rpo.accept that used several? */
static bool rpo_record(const struct pt_audit_entry *e, const char *id, const char *name)
{
	const char *p;

	if ((id[0] && strcmp(e->id, id) == 0) || (name[0] && strcmp(e->user, name) == 0))
		return true;
	p = name[0] ? strstr(e->reason, "rpos=") : NULL;
	while (p) {
		size_t n = strlen(name);

		p += 5;
		for (;;) {
			if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == ' ' || !p[n]))
				return true;
			p += strcspn(p, ", ");
			if (*p != ',')
				break;
			p++;
		}
		p = strstr(p, "rpos=");
	}
	return false;
}

/* pertokctl audit rpo: the RPO's records, approval to expiry. The id and
 * the name are learnt from its rpo.approve record (either may be given). */
static int show_rpo_file(const char *path, const char *who, char *id, size_t idlen, char *name,
			 size_t namelen, unsigned *ret_n)
{
	struct pt_audit_entry e;
	int r;
	char *line = NULL;
	FILE *f = NULL;

	if (open_log(path, &f, &line) < 0)
		return TOOL_EXIT_REFUSED;
	while ((r = next_line(f, line, &e)) != -ENODATA) {
		char when[32];

		if ((r != 0 && r != -EILSEQ) || strcmp(e.type, "record") != 0)
			continue;
		if (strcmp(e.op, "rpo.approve") == 0 && strcmp(e.result, "allow") == 0 &&
		    (strcmp(e.id, who) == 0 || strcmp(e.user, who) == 0)) {
			snprintf(id, idlen, "%s", e.id);
			snprintf(name, namelen, "%s", e.user);
		}
		if (!rpo_record(&e, id, name))
			continue;
		tool_time(e.time, when, sizeof(when));
		/* who (the external subject as its HMAC), from where, how strongly */
		printf("%-20s %-12s %-8s %-10s ", when, e.op, e.result,
		       e.service[0] ? e.service : "-");
		if (e.sub_hmac[0])
			printf("sub=%s ", e.sub_hmac);
		if (e.iss[0])
			printf("iss=%s ", e.iss);
		if (e.rhost[0])
			printf("from=%s ", e.rhost);
		if (e.acr[0])
			printf("acr=%s ", e.acr);
		if (e.amr[0])
			printf("amr=%s ", e.amr);
		printf("%s%s\n", e.reason[0] ? e.reason : "-",
		       r == -EILSEQ ? " [HASH MISMATCH]" : "");
		(*ret_n)++;
	}
	free(line);
	fclose(f);
	return TOOL_EXIT_OK;
}

static int cmd_rpo(const struct audit_opts *o)
{
	char id[64] = "", name[256] = "";
	char **files = NULL;
	size_t n = 0;
	unsigned found = 0;
	int code = TOOL_EXIT_OK;

	/* given as an id or a name: both are matched until the approval says
	 * which is which */
	if (strncmp(o->rpo, "rpo_", 4) == 0)
		snprintf(id, sizeof(id), "%s", o->rpo);
	else
		snprintf(name, sizeof(name), "%s", o->rpo);
	if (list_files(o->file, &files, &n) < 0) {
		tool_err("out of memory");
		return TOOL_EXIT_REFUSED;
	}
	printf("%-20s %-12s %-8s %-10s %s\n", "TIME", "OP", "RESULT", "SERVICE", "DETAILS");
	for (size_t i = 0; i < n && code == TOOL_EXIT_OK; i++)
		code = show_rpo_file(files[i], o->rpo, id, sizeof(id), name, sizeof(name), &found);
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
	if (code == TOOL_EXIT_OK && found == 0) {
		tool_err("no audit record of %s", o->rpo);
		code = TOOL_EXIT_REFUSED;
	}
	return code;
}

/* The records of the rotated files (oldest first), then of the log. */
static int cmd_show(const struct audit_opts *o)
{
	char **files = NULL;
	size_t n = 0;
	int code = TOOL_EXIT_OK;

	if (list_files(o->file, &files, &n) < 0) {
		tool_err("out of memory");
		return TOOL_EXIT_REFUSED;
	}
	printf("%-20s %8s %-10s %-8s %-12s %-12s %s\n", "TIME", "SEQ", "OP", "RESULT", "USER",
	       "HOLDER", "REASON");
	for (size_t i = 0; i < n && code == TOOL_EXIT_OK; i++)
		code = show_file(o, files[i]);
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
	return code;
}

int pertokctl_audit(int argc, char **argv, struct tool_conn *conn)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "head", required_argument, NULL, 'H' },
		{ "no-head", no_argument, NULL, 'N' },
		{ "pubkey", required_argument, NULL, 'p' },
		{ "jwks", required_argument, NULL, 'j' },
		{ "user", required_argument, NULL, 'u' },
		{ "since", required_argument, NULL, 'S' },
	};
	struct audit_opts o = { .file = DEFAULT_AUDIT_LOG };
	const char *sub;
	int code;

	if (argc < 2 || (strcmp(argv[1], "verify") != 0 && strcmp(argv[1], "show") != 0 &&
			 strcmp(argv[1], "rpo") != 0)) {
		if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
			audit_usage(stdout);
			return TOOL_EXIT_OK;
		}
		audit_usage(stderr);
		return TOOL_EXIT_USAGE;
	}
	sub = argv[1];
	code = tool_parse_command(argc - 1, argv + 1, "", opts, PT_ELEMENTSOF(opts), opt_audit, &o,
				  audit_usage, conn);
	if (code >= 0)
		return code;
	if (strcmp(sub, "rpo") == 0) {
		if (optind + 1 != argc - 1 || !pt_name_valid(argv[optind + 1])) {
			audit_usage(stderr);
			return TOOL_EXIT_USAGE;
		}
		o.rpo = argv[optind + 1];
		return cmd_rpo(&o);
	}
	if (optind != argc - 1) {
		audit_usage(stderr);
		return TOOL_EXIT_USAGE;
	}
	if ((o.pubkey && o.jwks) || (o.head && o.no_head)) {
		tool_err("--pubkey and --jwks, --head and --no-head: one of each at most");
		return TOOL_EXIT_USAGE;
	}
	if (strcmp(sub, "verify") == 0)
		return cmd_verify(&o, conn);
	return cmd_show(&o);
}
