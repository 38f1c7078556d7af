/* SPDX-License-Identifier: MIT */
/*
 * The store at scale: fills a state directory and times tokend's start.
 *
 *   bench-store fill STATE_DIR USERS HOLDERS
 *       a software-sealed store key and USERS x HOLDERS persistable tokens
 *       (users u00000..., holders h1...; 5 groups each) plus one for root
 *       and holder "bench", written as v0.1/v0.2 wrote them: one sealed file
 *       per token in STATE_DIR/tokens/ (not fsync'd: a benchmark's data).
 *       tokend imports them on its first start; a v0.2 tokend reads them.
 *   bench-store start TOKEND CONF SOCKET
 *       starts TOKEND -c CONF and waits until it answers on SOCKET (PUBKEY);
 *       prints "pid=P start_ms=T rss_kib=R" (VmRSS at that moment) and
 *       leaves tokend running (the caller stops it).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aead.h"
#include "bench-util.h"
#include "client.h"
#include "proto.h"
#include "record.h"
#include "seal.h"

static char *xstrdup(const char *s)
{
	char *c = strdup(s);

	if (!c) {
		perror("bench-store");
		exit(1);
	}
	return c;
}

static struct pt_record *mkrec(const char *user, uid_t uid, const char *holder, uint64_t now)
{
	static const char *const groups[] = { "users", "audio", "video", "plugdev", "staff" };
	struct pt_record *r = calloc(1, sizeof(*r));
	char buf[256];

	if (!r || pt_record_new_id(r->id) < 0)
		exit(1);
	r->user = xstrdup(user);
	r->uid = uid;
	r->gid = uid;
	r->groups = calloc(6, sizeof(char *));
	if (!r->groups)
		exit(1);
	for (size_t i = 0; i < 5; i++)
		r->groups[i] = xstrdup(groups[i]);
	r->n_groups = 5;
	snprintf(buf, sizeof(buf), "User %s,,,", user);
	r->gecos = xstrdup(buf);
	snprintf(buf, sizeof(buf), "/home/%s", user);
	r->home = xstrdup(buf);
	r->shell = xstrdup("/bin/bash");
	r->holder = xstrdup(holder);
	r->actor = xstrdup("login");
	r->service = xstrdup("sshd");
	r->tty = xstrdup("pts/3");
	r->rhost = xstrdup("192.0.2.17");
	snprintf(buf, sizeof(buf), "jti-%s-%s", user, holder);
	r->source_jti = xstrdup(buf);
	r->iat = now;
	r->exp = now + 30 * 86400;
	return r;
}

/* v0.1/v0.2's file: KEYDIR/tokens/<hex(SHA-256(user "\0" holder)[0..16])>.tok */
static void write_legacy(const char *tokens, const uint8_t *key, const struct pt_record *r)
{
	uint8_t md[32], in[600], *blob = NULL;
	size_t ul = strlen(r->user), hl = strlen(r->holder), n = 0;
	char name[40], path[4096], *json = NULL;
	unsigned mdlen = 0;
	int fd;

	memcpy(in, r->user, ul + 1);
	memcpy(in + ul + 1, r->holder, hl);
	if (EVP_Digest(in, ul + 1 + hl, md, &mdlen, EVP_sha256(), NULL) != 1)
		exit(1);
	for (int i = 0; i < 16; i++)
		snprintf(name + 2 * i, 3, "%02x", md[i]);
	strcat(name, ".tok");
	if (pt_record_to_json(r, &json) < 0 ||
	    pt_aead_seal(key, name, strlen(name), json, strlen(json), &blob, &n) < 0)
		exit(1);
	snprintf(path, sizeof(path), "%s/%s", tokens, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, blob, n) != (ssize_t)n || close(fd) < 0) {
		perror(path);
		exit(1);
	}
	free(json);
	free(blob);
}

static int fill(const char *dir, unsigned users, unsigned holders)
{
	uint8_t key[PT_STORE_KEYLEN];
	char tokens[4096], err[512] = "", user[32], holder[32];
	uint64_t now = (uint64_t)time(NULL);

	if (RAND_bytes(key, sizeof(key)) != 1)
		return 1;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		perror(dir);
		return 1;
	}
	if (pt_seal_store(pt_sealer_get("software"), dir, key, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench-store: %s\n", err);
		return 1;
	}
	snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
	if (mkdir(tokens, 0700) < 0 && errno != EEXIST) {
		perror(tokens);
		return 1;
	}
	for (unsigned u = 0; u < users; u++)
		for (unsigned h = 0; h < holders; h++) {
			struct pt_record *r;

			snprintf(user, sizeof(user), "u%05u", u);
			snprintf(holder, sizeof(holder), "h%u", h + 1);
			r = mkrec(user, 100000 + u, holder, now);
			write_legacy(tokens, key, r);
			pt_record_free(r);
		}
	{
		struct pt_record *r = mkrec("root", 0, "bench", now);

		write_legacy(tokens, key, r);
		pt_record_free(r);
	}
	return 0;
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int start(const char *tokend, const char *conf, const char *sock)
{
	uint64_t t0 = now_us();
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		/* nothing of ours open in it: the caller reads our output to EOF */
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(tokend, tokend, "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (;;) {
		struct pt_client *c = NULL;
		struct pt_req req = { .type = PT_PUBKEY, .format = PT_PUBKEY_PEM };
		struct pt_rep rep = { 0 };
		int st;

		/* ready = answering: the socket exists (the front's) before the key
		 * holder has loaded the store, so a connection alone says nothing */
		if (pt_client_connect(sock, 1000, &c) == 0 && pt_client_call(c, &req, &rep) == 0 &&
		    rep.type == PT_OK) {
			uint64_t ms = (now_us() - t0) / 1000;

			pt_rep_clear(&rep);
			pt_client_free(c);
			printf("pid=%d start_ms=%llu rss_kib=%ld\n", (int)pid,
			       (unsigned long long)ms, rss_kib(pid));
			return 0;
		}
		pt_rep_clear(&rep);
		pt_client_free(c);
		if (waitpid(pid, &st, WNOHANG) == pid) {
			fprintf(stderr, "bench-store: tokend exited before it was ready\n");
			return 1;
		}
		if (now_us() - t0 > 600 * 1000000ull) {
			kill(pid, SIGTERM);
			fprintf(stderr, "bench-store: tokend not ready after 600 s\n");
			return 1;
		}
		usleep(1000);
	}
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "fill") == 0)
		return fill(argv[2], (unsigned)atoi(argv[3]), (unsigned)atoi(argv[4]));
	if (argc == 5 && strcmp(argv[1], "start") == 0)
		return start(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: see the comment at the top of tests/bench/bench-store.c\n");
	return 2;
}
