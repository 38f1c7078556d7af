/* SPDX-License-Identifier: MIT */
/*
 * pertok benchmark client.
 *
 *   bench echo-server PATH             serve a bare UNIX-socket echo (baseline)
 *   bench echo PATH CLIENTS SECONDS    frame round trips against echo-server
 *   bench redeem PATH CLIENTS SECONDS USER HOLDER
 *   bench issue PATH SECONDS USER HOLDER     mint once, then exchange (durable writes)
 *   bench sign SECONDS                 Ed25519 signatures of a live token's size on
 *                                      one core (the ceiling of redemptions per core)
 *
 * Each client is a process with one connection; latencies go to a shared
 * mapping and the parent prints requests/s, p50 and p99 in microseconds.
 * No thresholds: the numbers are printed beside the baseline of the same run.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "client.h"
#include "io.h"
#include "proto.h"
#include "util.h"
#include "bench-util.h"

#define MAX_SAMPLES_PER_CLIENT 2000000
#define MAX_CLIENTS 64

struct shared {
	uint64_t count[MAX_CLIENTS];
	uint64_t errors[MAX_CLIENTS];
	uint32_t lat_us[]; /* MAX_CLIENTS x MAX_SAMPLES_PER_CLIENT */
};

/* ------------------------------------------------------------ baseline */

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int read_full(int fd, void *p, size_t n)
{
	uint8_t *q = p;

	while (n > 0) {
		ssize_t k = read(fd, q, n);
		if (k <= 0) {
			if (k < 0 && errno == EINTR)
				continue;
			return -1;
		}
		q += k;
		n -= (size_t)k;
	}
	return 0;
}

/* One poll()ed process, like tokend's single thread: read a frame, send it back. */
static int echo_server(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pollfd pfd[MAX_CLIENTS + 1];
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), n = 1;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 128) < 0) {
		perror("echo-server");
		return 1;
	}
	pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	for (;;) {
		if (poll(pfd, (nfds_t)n, -1) < 0)
			continue;
		if ((pfd[0].revents & POLLIN) && n < MAX_CLIENTS + 1) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				pfd[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
		}
		for (int i = 1; i < n; i++) {
			uint8_t buf[4 + 4096];
			uint32_t len;

			if (!(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			if (read_full(pfd[i].fd, buf, 4) < 0)
				goto drop;
			len = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
			      (uint32_t)buf[2] << 8 | buf[3];
			if (len > 4096 || read_full(pfd[i].fd, buf + 4, len) < 0 ||
			    pt_write_all(pfd[i].fd, buf, 4 + len) < 0)
				goto drop;
			continue;
drop:
			close(pfd[i].fd);
			pfd[i--] = pfd[--n];
		}
	}
}

/* ------------------------------------------------------------ clients */

struct job {
	const char *mode;
	const char *path;
	const char *user;
	const char *holder;
	unsigned seconds;
};

static void run_client(const struct job *j, struct shared *sh, unsigned idx)
{
	uint32_t *lat = sh->lat_us + (size_t)idx * MAX_SAMPLES_PER_CLIENT;
	uint64_t end = now_us() + (uint64_t)j->seconds * 1000000u, n = 0, errs = 0;

	if (strcmp(j->mode, "echo") == 0) {
		/* a request the size of a redeem frame, and a reply the same size */
		uint8_t frame[4 + 64] = { 0, 0, 0, 64, PT_REDEEM };
		int fd = unix_connect(j->path);

		if (fd < 0)
			_exit(3);
		while (n < MAX_SAMPLES_PER_CLIENT) {
			uint64_t t0 = now_us();
			if (pt_write_all(fd, frame, sizeof(frame)) < 0 ||
			    read_full(fd, frame, sizeof(frame)) < 0) {
				errs++;
				break;
			}
			lat[n++] = (uint32_t)(now_us() - t0);
			if (t0 >= end)
				break;
		}
		close(fd);
	} else {
		struct pt_client *c = NULL;
		struct pt_req req = { .type = PT_REDEEM,
				      .user = (char *)j->user,
				      .holder = (char *)j->holder,
				      .service = (char *)"bench" };

		if (pt_client_connect(j->path, 5000, &c) < 0)
			_exit(3);
		while (n < MAX_SAMPLES_PER_CLIENT) {
			struct pt_rep rep = { 0 };
			uint64_t t0 = now_us();
			int r = pt_client_call(c, &req, &rep);

			if (r < 0)
				break;
			if (rep.type != PT_OK)
				errs++;
			pt_rep_clear(&rep);
			lat[n++] = (uint32_t)(now_us() - t0);
			if (t0 >= end)
				break;
		}
		pt_client_free(c);
	}
	sh->count[idx] = n;
	sh->errors[idx] = errs;
	_exit(0);
}

static int report(const char *label, struct shared *sh, unsigned clients, double secs)
{
	uint64_t total = 0, errs = 0, k = 0;
	uint32_t *all;

	for (unsigned i = 0; i < clients; i++) {
		total += sh->count[i];
		errs += sh->errors[i];
	}
	if (total == 0) {
		printf("%-28s no request completed\n", label);
		return 1;
	}
	all = malloc(sizeof(uint32_t) * total);
	if (!all)
		return 1;
	for (unsigned i = 0; i < clients; i++)
		for (uint64_t s = 0; s < sh->count[i]; s++)
			all[k++] = sh->lat_us[(size_t)i * MAX_SAMPLES_PER_CLIENT + s];
	qsort(all, total, sizeof(uint32_t), cmp_u32);
	printf("%-28s clients=%-3u requests=%-8llu errors=%-4llu rate=%9.0f/s p50=%6uus "
	       "p99=%6uus\n",
	       label, clients, (unsigned long long)total, (unsigned long long)errs, total / secs,
	       all[total / 2], all[(total * 99) / 100]);
	free(all);
	return errs ? 1 : 0;
}

static int run_clients(const struct job *j, unsigned clients)
{
	size_t size = sizeof(struct shared) +
		      sizeof(uint32_t) * (size_t)MAX_CLIENTS * MAX_SAMPLES_PER_CLIENT;
	struct shared *sh =
		mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t t0;
	char label[64];
	int r = 0;

	if (sh == MAP_FAILED || clients == 0 || clients > MAX_CLIENTS)
		return 2;
	t0 = now_us();
	for (unsigned i = 0; i < clients; i++) {
		pid_t pid = fork();
		if (pid == 0)
			run_client(j, sh, i);
		if (pid < 0)
			return 2;
	}
	for (unsigned i = 0; i < clients; i++) {
		int st;
		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			r = 1;
	}
	snprintf(label, sizeof(label), "%s",
		 strcmp(j->mode, "echo") == 0 ? "baseline unix-socket echo" : "tokend redeem");
	r |= report(label, sh, clients, (now_us() - t0) / 1e6);
	munmap(sh, size);
	return r;
}

/* Mint one live token, then exchange it again and again: every exchange is
 * a durable (fsync'd) write of a persistable token. */
static int run_issue(const struct job *j)
{
	struct pt_client *c = NULL;
	struct pt_req mint = { .type = PT_MINT,
			       .user = (char *)j->user,
			       .service = (char *)"bench",
			       .tty = (char *)"",
			       .rhost = (char *)"" };
	struct pt_rep rep = { 0 };
	uint64_t end, n = 0, errs = 0, t0;
	char *token;
	int r;

	r = pt_client_connect(j->path, 5000, &c);
	if (r < 0) {
		fprintf(stderr, "bench: connect: %s\n", strerror(-r));
		return 1;
	}
	r = pt_client_call(c, &mint, &rep);
	if (r < 0 || rep.type != PT_OK) {
		fprintf(stderr, "bench: mint failed: %s\n",
			rep.message ? rep.message : "transport");
		pt_rep_clear(&rep);
		pt_client_free(c);
		return 1;
	}
	token = rep.token;
	rep.token = NULL;
	pt_rep_clear(&rep);
	t0 = now_us();
	end = t0 + (uint64_t)j->seconds * 1000000u;
	while (now_us() < end) {
		struct pt_req ex = { .type = PT_EXCHANGE,
				     .live_token = token,
				     .holder = (char *)j->holder };
		struct pt_rep er = { 0 };

		if (pt_client_call(c, &ex, &er) < 0)
			break;
		if (er.type != PT_OK) {
			if (errs++ == 0)
				fprintf(stderr, "bench: exchange: %s\n", er.message);
		}
		pt_rep_clear(&er);
		n++;
	}
	printf("%-28s clients=1   requests=%-8llu errors=%-4llu rate=%9.0f/s (each an fsync'd "
	       "write)\n",
	       "tokend issue (exchange)", (unsigned long long)n, (unsigned long long)errs,
	       n / ((now_us() - t0) / 1e6));
	pt_free_secret(token);
	pt_client_free(c);
	return errs ? 1 : 0;
}

/* What one core can sign: a redemption signs one live token (~700 bytes of
 * signing input), so this bounds redemptions per core. */
static int run_sign(unsigned seconds)
{
	EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_PKEY *key = NULL;
	uint8_t msg[700], sig[64];
	uint64_t n = 0, t0, end;
	size_t siglen;

	memset(msg, 'x', sizeof(msg));
	if (!kctx || EVP_PKEY_keygen_init(kctx) <= 0 || EVP_PKEY_keygen(kctx, &key) <= 0) {
		EVP_PKEY_CTX_free(kctx);
		return 1;
	}
	t0 = now_us();
	end = t0 + (uint64_t)seconds * 1000000u;
	while (now_us() < end) {
		for (int i = 0; i < 64; i++) {
			EVP_MD_CTX *md = EVP_MD_CTX_new();

			siglen = sizeof(sig);
			if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, key) <= 0 ||
			    EVP_DigestSign(md, sig, &siglen, msg, sizeof(msg)) <= 0) {
				EVP_MD_CTX_free(md);
				EVP_PKEY_free(key);
				EVP_PKEY_CTX_free(kctx);
				return 1;
			}
			EVP_MD_CTX_free(md);
			n++;
		}
	}
	printf("%-28s cores=1     signatures=%-8llu rate=%9.0f/s (the ceiling per core)\n",
	       "Ed25519 sign (700 bytes)", (unsigned long long)n, n / ((now_us() - t0) / 1e6));
	EVP_PKEY_free(key);
	EVP_PKEY_CTX_free(kctx);
	return 0;
}

int main(int argc, char **argv)
{
	struct job j = { 0 };

	if (argc >= 3 && strcmp(argv[1], "echo-server") == 0)
		return echo_server(argv[2]);
	if (argc == 5 && strcmp(argv[1], "echo") == 0) {
		j = (struct job){ .mode = "echo",
				  .path = argv[2],
				  .seconds = (unsigned)atoi(argv[4]) };
		return run_clients(&j, (unsigned)atoi(argv[3]));
	}
	if (argc == 7 && strcmp(argv[1], "redeem") == 0) {
		j = (struct job){ .mode = "redeem",
				  .path = argv[2],
				  .seconds = (unsigned)atoi(argv[4]),
				  .user = argv[5],
				  .holder = argv[6] };
		return run_clients(&j, (unsigned)atoi(argv[3]));
	}
	if (argc == 6 && strcmp(argv[1], "issue") == 0) {
		j = (struct job){ .mode = "issue",
				  .path = argv[2],
				  .seconds = (unsigned)atoi(argv[3]),
				  .user = argv[4],
				  .holder = argv[5] };
		return run_issue(&j);
	}
	if (argc == 3 && strcmp(argv[1], "sign") == 0)
		return run_sign((unsigned)atoi(argv[2]));
	fprintf(stderr, "usage: see the comment at the top of tests/bench/bench.c\n");
	return 2;
}
