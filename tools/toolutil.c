/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "toolutil.h"
#include "util.h"

void tool_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void tool_version(void)
{
	printf("%s (%s) %s\n", program_invocation_short_name, PACKAGE_NAME, PACKAGE_VERSION);
}

int tool_common_option(int c, const char *arg, struct tool_conn *conn)
{
	uint32_t v;

	switch (c) {
	case 's':
		if (!arg || arg[0] != '/') {
			tool_err("--socket needs an absolute path");
			return -EINVAL;
		}
		conn->socket = arg;
		return 1;
	case 't':
		if (pt_parse_u32(arg, &v) < 0 || v == 0 || v > TOOL_TIMEOUT_MAX) {
			tool_err("--timeout: expected milliseconds, 1..%d", TOOL_TIMEOUT_MAX);
			return -EINVAL;
		}
		conn->timeout_ms = (int)v;
		return 1;
	default:
		return 0;
	}
}

const struct option tool_common_longopts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{},
};

void tool_bad_option(int c, char **argv, const char *command)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	char shortopt[3] = { '-', (char)optopt, '\0' };

	/* For a short option, optopt names it; for a long one, argv[optind - 1]. */
	if (optopt && (strncmp(arg, "--", 2) != 0))
		arg = shortopt;
	tool_err("%s%s%s '%s'", command ? command : "", command ? ": " : "",
		 c == ':' ? "missing argument for option" : "unknown option", arg);
	fprintf(stderr, "Try '%s --help'.\n", program_invocation_short_name);
}

int tool_parse_command(int argc, char **argv, const char *shortopts, const struct option *longopts,
		       size_t n_longopts, int (*handle)(int c, const char *arg, void *u), void *u,
		       void (*usage)(FILE *f), struct tool_conn *conn)
{
	struct option all[16];
	char optstring[64];
	size_t n = 0;
	int c, r;

	for (size_t i = 0; i < n_longopts && n + 1 < PT_ELEMENTSOF(all); i++)
		all[n++] = longopts[i];
	for (size_t i = 0; tool_common_longopts[i].name && n + 1 < PT_ELEMENTSOF(all); i++)
		all[n++] = tool_common_longopts[i];
	all[n] = (struct option){};
	snprintf(optstring, sizeof(optstring), ":%s%s", shortopts, TOOL_COMMON_SHORTOPTS);

	optind = 0; /* glibc: restart scanning at argv[1] */
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, all, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return TOOL_EXIT_OK;
		}
		if (c == 'V') {
			tool_version();
			return TOOL_EXIT_OK;
		}
		r = tool_common_option(c, optarg, conn);
		if (r < 0)
			return TOOL_EXIT_USAGE;
		if (r > 0)
			continue;
		if (c == '?' || c == ':' || !handle || handle(c, optarg, u) < 0) {
			if (c == '?' || c == ':')
				tool_bad_option(c, argv, argv[0]);
			else
				fprintf(stderr, "Try '%s --help'.\n",
					program_invocation_short_name);
			return TOOL_EXIT_USAGE;
		}
	}
	return -1;
}

static const char *transport_error(int r)
{
	switch (r) {
	case -ENOENT:
	case -ECONNREFUSED:
		return "tokend is not running";
	case -ETIMEDOUT:
		return "tokend did not answer in time";
	case -EPROTO:
	case -EBADMSG:
		return "protocol error";
	default:
		return strerror(-r);
	}
}

int tool_call(const struct tool_conn *conn, const struct pt_req *req, struct pt_rep *ret)
{
	const char *path = conn->socket ? conn->socket : pt_default_socket();
	struct pt_client *c = NULL;
	struct pt_rep rep = {};
	int code, r;

	r = pt_client_connect(path, conn->timeout_ms > 0 ? conn->timeout_ms : TOOL_TIMEOUT_DEFAULT,
			      &c);
	if (r < 0) {
		tool_err("cannot reach tokend at %s: %s", path, transport_error(r));
		code = TOOL_EXIT_UNREACHABLE;
		goto out;
	}
	/* LIST pages through transparently */
	r = req->type == PT_LIST ? pt_client_list(c, req->user, &rep) :
				   pt_client_call(c, req, &rep);
	if (r < 0) {
		tool_err("cannot reach tokend at %s: %s", path, transport_error(r));
		code = TOOL_EXIT_UNREACHABLE;
		goto out;
	}
	if (rep.type != PT_OK) {
		tool_err("tokend: %s",
			 rep.message && *rep.message ? rep.message : pt_errcode_name(rep.err_code));
		code = TOOL_EXIT_REFUSED;
		goto out;
	}
	*ret = rep;
	rep = (struct pt_rep){};
	code = TOOL_EXIT_OK;
out:
	pt_rep_clear(&rep);
	pt_client_free(c);
	return code;
}

const char *tool_time(uint64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || (uint64_t)tt != t || !gmtime_r(&tt, &tm) ||
	    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, n, "%s", t == 0 ? "-" : "?");
	return buf;
}

static int print_list_json(const struct pt_rep *rep)
{
	uint64_t now = (uint64_t)time(NULL);
	struct json_object *arr = json_object_new_array();

	if (!arr)
		goto oom;
	for (uint32_t i = 0; i < rep->n_list; i++) {
		const struct pt_tokinfo *t = &rep->list[i];
		struct json_object *o = json_object_new_object();

		if (!o || json_object_array_add(arr, o) < 0) {
			json_object_put(o);
			goto oom;
		}
		if (json_object_object_add(o, "id", json_object_new_string(t->id ? t->id : "")) ||
		    json_object_object_add(o, "user",
					   json_object_new_string(t->user ? t->user : "")) ||
		    json_object_object_add(o, "uid", json_object_new_int64(t->uid)) ||
		    json_object_object_add(o, "holder",
					   json_object_new_string(t->holder ? t->holder : "")) ||
		    json_object_object_add(o, "actor",
					   json_object_new_string(t->actor ? t->actor : "")) ||
		    json_object_object_add(o, "iat", json_object_new_int64((int64_t)t->iat)) ||
		    json_object_object_add(o, "exp", json_object_new_int64((int64_t)t->exp)) ||
		    json_object_object_add(
			    o, "last_used",
			    t->last_used ? json_object_new_int64((int64_t)t->last_used) : NULL) ||
		    json_object_object_add(o, "uses", json_object_new_int64(t->uses)) ||
		    json_object_object_add(
			    o, "left",
			    json_object_new_int64(t->exp > now ? (int64_t)(t->exp - now) : 0)) ||
		    json_object_object_add(o, "refusals", json_object_new_int64(t->refusals)) ||
		    json_object_object_add(
			    o, "refused_at",
			    t->refused_at ? json_object_new_int64((int64_t)t->refused_at) : NULL) ||
		    json_object_object_add(o, "refusal_rule",
					   t->refusal_rule && *t->refusal_rule ?
						   json_object_new_string(t->refusal_rule) :
						   NULL) ||
		    json_object_object_add(
			    o, "refusal_reason",
			    t->refused_at ? json_object_new_string(
						    t->refusal_reason ? t->refusal_reason : "") :
					    NULL))
			goto oom;
	}
	return tool_print_json_object(arr);
oom:
	json_object_put(arr);
	return tool_print_json_object(NULL);
}

int tool_print_json_object(struct json_object *o)
{
	if (!o) {
		tool_err("out of memory");
		return TOOL_EXIT_REFUSED;
	}
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return TOOL_EXIT_OK;
}

#define LIST_COLS 11

/* Text columns left-aligned, numbers (UID, USES) right-aligned; no trailing blanks. */
static void print_row(const char *const cell[LIST_COLS], const size_t w[LIST_COLS])
{
	for (size_t c = 0; c < LIST_COLS; c++) {
		bool num = c == 2 || c == 8, last = c + 1 == LIST_COLS;

		if (num)
			printf("%*s", (int)w[c], cell[c]);
		else
			printf("%-*s", last ? 0 : (int)w[c], cell[c]);
		fputs(last ? "\n" : "  ", stdout);
	}
}

struct list_row {
	char cell[LIST_COLS][PT_MAX_STR + 1]; /* names are at most PT_MAX_STR bytes */
};

int tool_print_list(const struct pt_rep *rep, bool json)
{
	static const char *const head[LIST_COLS] = {
		"ID",	   "USER", "UID",  "HOLDER",	   "ACTOR",	   "ISSUED",
		"EXPIRES", "LEFT", "USES", "LAST-SUCCESS", "LAST-REFUSAL",
	};
	uint64_t now = (uint64_t)time(NULL);
	struct list_row *rows;
	size_t w[LIST_COLS];
	uint32_t n = rep->n_list;

	if (json)
		return print_list_json(rep);

	rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows) {
		tool_err("out of memory");
		return TOOL_EXIT_REFUSED;
	}
	for (size_t c = 0; c < LIST_COLS; c++)
		w[c] = strlen(head[c]);
	for (uint32_t i = 0; i < n; i++) {
		const struct pt_tokinfo *t = &rep->list[i];
		struct list_row *r = &rows[i];

		snprintf(r->cell[0], sizeof(r->cell[0]), "%s", t->id ? t->id : "");
		snprintf(r->cell[1], sizeof(r->cell[1]), "%s", t->user ? t->user : "");
		snprintf(r->cell[2], sizeof(r->cell[2]), "%u", (unsigned)t->uid);
		snprintf(r->cell[3], sizeof(r->cell[3]), "%s", t->holder ? t->holder : "");
		snprintf(r->cell[4], sizeof(r->cell[4]), "%s", t->actor ? t->actor : "");
		tool_time(t->iat, r->cell[5], sizeof(r->cell[5]));
		tool_time(t->exp, r->cell[6], sizeof(r->cell[6]));
		pt_left_text(t->exp, now, r->cell[7], sizeof(r->cell[7]));
		snprintf(r->cell[8], sizeof(r->cell[8]), "%u", (unsigned)t->uses);
		tool_time(t->last_used, r->cell[9], sizeof(r->cell[9]));
		tool_time(t->refused_at, r->cell[10], sizeof(r->cell[10]));
		for (size_t c = 0; c < LIST_COLS; c++)
			if (strlen(r->cell[c]) > w[c])
				w[c] = strlen(r->cell[c]);
	}
	print_row(head, w);
	for (uint32_t i = 0; i < n; i++) {
		const char *row[LIST_COLS];

		for (size_t c = 0; c < LIST_COLS; c++)
			row[c] = rows[i].cell[c];
		print_row(row, w);
	}
	free(rows);
	return TOOL_EXIT_OK;
}

int tool_print_json_pretty(const char *text)
{
	struct json_object *o;

	o = json_tokener_parse(text);
	if (!o) {
		tool_err("malformed JSON");
		return TOOL_EXIT_REFUSED;
	}
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return TOOL_EXIT_OK;
}

int tool_opt_flag(int c, const char *arg, void *u)
{
	(void)c;
	(void)arg;
	*(bool *)u = true;
	return 0;
}

void tool_print_text(const char *text)
{
	size_t n = text ? strlen(text) : 0;

	if (n == 0)
		return;
	fputs(text, stdout);
	if (text[n - 1] != '\n')
		fputc('\n', stdout);
}

int tool_call_text(const struct tool_conn *conn, const struct pt_req *req)
{
	struct pt_rep rep = {};
	int code;

	code = tool_call(conn, req, &rep);
	if (code == TOOL_EXIT_OK)
		tool_print_text(rep.text);
	pt_rep_clear(&rep);
	return code;
}

int tool_revoke(const struct tool_conn *conn, const struct pt_req *req)
{
	struct pt_rep rep = {};
	int code;

	code = tool_call(conn, req, &rep);
	if (code != TOOL_EXIT_OK)
		goto out;
	if (req->type == PT_REVOKE_MATCH)
		printf("revoked %u token%s\n", rep.count, rep.count == 1 ? "" : "s");
	else if (rep.count == 0) {
		tool_err("no token %s", req->id);
		code = TOOL_EXIT_REFUSED;
	} else
		printf("revoked %s\n", req->id);
out:
	pt_rep_clear(&rep);
	return code;
}

int tool_main(int argc, char **argv, const struct tool_command *commands, size_t n_commands,
	      void (*usage)(FILE *f))
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
	for (size_t i = 0; i < n_commands; i++)
		if (strcmp(argv[optind], commands[i].name) == 0)
			return commands[i].run(argc - optind, argv + optind, &conn);
	tool_err("unknown command: %s", argv[optind]);
	fprintf(stderr, "Try '%s --help'.\n", program_invocation_short_name);
	return TOOL_EXIT_USAGE;
}

int tool_read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f)
		return -errno;
	buf = malloc(max + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f) || n > max) {
		int r = n > max ? -EFBIG : -EIO;
		fclose(f);
		free(buf);
		return r;
	}
	fclose(f);
	buf[n] = '\0';
	*ret = buf;
	*ret_len = n;
	return 0;
}
