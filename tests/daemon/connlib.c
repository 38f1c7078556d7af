/* SPDX-License-Identifier: MIT */
/* Helpers of the connection tests: see connlib.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "connlib.h"
#include "io.h"
#include "util.h"

int cl_send(int fd, const struct pt_req *req)
{
	struct ptbuf *b = ptbuf_new(4 + PT_MAX_FRAME);
	int r;

	if (!b)
		return -ENOMEM;
	r = pt_req_encode(req, b);
	if (r == 0)
		r = pt_write_all(fd, ptbuf_ptr(b), ptbuf_len(b));
	ptbuf_free(b);
	return r;
}

/* Reads exactly n bytes by the deadline. 0, -ETIMEDOUT or -ECONNRESET. */
static int read_until(int fd, uint8_t *p, size_t n, uint64_t deadline)
{
	size_t have = 0;

	while (have < n) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		uint64_t now = pt_now_ms_monotonic();
		ssize_t k;
		int r;

		if (now >= deadline)
			return -ETIMEDOUT;
		r = poll(&pf, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -ETIMEDOUT;
		k = read(fd, p + have, n - have);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k <= 0)
			return -ECONNRESET;
		have += (size_t)k;
	}
	return 0;
}

int cl_reply(int fd, uint8_t req_type, int timeout_ms, struct pt_rep *rep)
{
	uint64_t deadline = pt_now_ms_monotonic() + (uint64_t)timeout_ms;
	uint8_t *buf = malloc(4 + PT_MAX_FRAME);
	const uint8_t *payload;
	size_t len, used, flen;
	uint8_t type;
	int r;

	memset(rep, 0, sizeof(*rep));
	if (!buf)
		return -ENOMEM;
	/* a frame at a time: never read past this reply */
	r = read_until(fd, buf, 4, deadline);
	if (r < 0)
		goto out;
	flen = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 | (size_t)buf[2] << 8 | buf[3];
	if (flen == 0 || flen > PT_MAX_FRAME) {
		r = -EPROTO;
		goto out;
	}
	r = read_until(fd, buf + 4, flen, deadline);
	if (r < 0)
		goto out;
	r = pt_frame_split(buf, 4 + flen, PT_MAX_FRAME, &type, &payload, &len, &used);
	if (r == 0)
		r = pt_rep_decode(req_type, type, payload, len, rep) == 0 ? 0 : -EPROTO;
	else
		r = -EPROTO;
out:
	free(buf);
	return r;
}

int cl_call(int fd, const struct pt_req *req, int timeout_ms, struct pt_rep *rep)
{
	int r = cl_send(fd, req), k;

	if (r < 0 && r != -EPIPE && r != -ECONNRESET) {
		memset(rep, 0, sizeof(*rep));
		return r;
	}
	/* tokend may have answered ("busy") and closed before the request was
	 * written: its answer is still in the socket */
	k = cl_reply(fd, req->type, timeout_ms, rep);
	return k < 0 && r < 0 ? r : k;
}

int cl_connect(const char *path, int timeout_ms, uint32_t *ret_err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pt_req hello = { .type = PT_HELLO, .version = PT_PROTO_VERSION };
	struct pt_rep rep;
	int fd, r;

	*ret_err = 0;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	r = cl_call(fd, &hello, timeout_ms, &rep);
	if (r < 0 || rep.type != PT_OK) {
		if (r == 0)
			*ret_err = rep.err_code;
		pt_rep_clear(&rep);
		close(fd);
		return -1;
	}
	pt_rep_clear(&rep);
	return fd;
}

int cl_wait_closed(int fd, int timeout_ms)
{
	uint64_t deadline = pt_now_ms_monotonic() + (uint64_t)timeout_ms;
	uint8_t buf[4096];

	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		uint64_t now = pt_now_ms_monotonic();
		ssize_t k;

		if (now >= deadline)
			return 0;
		if (poll(&pf, 1, (int)(deadline - now)) <= 0)
			continue;
		k = read(fd, buf, sizeof(buf));
		if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN))
			return 1;
	}
}

/* ------------------------------------------------------------ users */

static int copy_append(const char *src, const char *dst, const char *extra, mode_t mode)
{
	FILE *in = fopen(src, "re"), *out;
	char buf[8192];
	size_t k;

	if (!in)
		return -1;
	out = fopen(dst, "we");
	if (!out) {
		fclose(in);
		return -1;
	}
	while ((k = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, k, out);
	fputs(extra, out);
	fclose(in);
	if (fclose(out) != 0 || chmod(dst, mode) < 0)
		return -1;
	return 0;
}

int ns_add_users(const char *dir, const char *const *names, size_t n, uid_t *ret_uids)
{
	static const struct {
		const char *file;
		mode_t mode;
	} files[] = { { "passwd", 0644 }, { "group", 0644 }, { "shadow", 0640 } };
	char *add[3] = { NULL, NULL, NULL };
	size_t addlen[3] = { 0, 0, 0 };
	uid_t id = 2950;
	int r = -1;

	if (geteuid() != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char line[3][512];

		while (getpwuid(id) || getgrgid(id) || getpwnam(names[i]))
			id++;
		ret_uids[i] = id;
		snprintf(line[0], sizeof(line[0]),
			 "%s:x:%u:%u:pertok test user:/nonexistent:/bin/sh\n", names[i],
			 (unsigned)id, (unsigned)id);
		snprintf(line[1], sizeof(line[1]), "%s:x:%u:\n", names[i], (unsigned)id);
		snprintf(line[2], sizeof(line[2]), "%s:*:%ld:0:99999:7:::\n", names[i],
			 (long)(time(NULL) / 86400));
		for (size_t f = 0; f < 3; f++) {
			size_t l = strlen(line[f]);
			char *p = realloc(add[f], addlen[f] + l + 1);
			if (!p)
				goto out;
			memcpy(p + addlen[f], line[f], l + 1);
			add[f] = p;
			addlen[f] += l;
		}
		id++;
	}
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		goto out;
	for (size_t f = 0; f < 3; f++) {
		char src[64], dst[PATH_MAX];

		snprintf(src, sizeof(src), "/etc/%s", files[f].file);
		snprintf(dst, sizeof(dst), "%s/etc-%s", dir, files[f].file);
		if (copy_append(src, dst, add[f] ? add[f] : "", files[f].mode) < 0 ||
		    mount(dst, src, NULL, MS_BIND, NULL) < 0)
			goto out;
	}
	r = 0;
out:
	for (size_t f = 0; f < 3; f++)
		free(add[f]);
	return r;
}

static pid_t children[64];

static void forget(pid_t pid)
{
	for (size_t i = 0; i < PT_ELEMENTSOF(children); i++)
		if (children[i] == pid)
			children[i] = 0;
}

pid_t spawn_as(uid_t uid, int (*fn)(void *arg), void *arg)
{
	pid_t parent = getpid(), pid = fork();

	if (pid > 0) {
		for (size_t i = 0; i < PT_ELEMENTSOF(children); i++)
			if (children[i] == 0) {
				children[i] = pid;
				break;
			}
		return pid;
	}
	if (pid < 0)
		return -1;
	if (uid != 0 && (setgroups(0, NULL) < 0 || setgid((gid_t)uid) < 0 || setuid(uid) < 0))
		_exit(100);
	/* a failed assertion in the test must not leave us behind (after setuid:
	 * a change of credentials clears the setting) */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(101);
	_exit(fn(arg));
}

void kill_children(void)
{
	for (size_t i = 0; i < PT_ELEMENTSOF(children); i++)
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
}

int wait_child(pid_t pid, int timeout_ms)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0), st;
	struct pollfd pf = { .fd = pfd, .events = POLLIN };

	/* a pidfd becomes readable when the child exits */
	if (pfd >= 0) {
		while (poll(&pf, 1, timeout_ms) < 0 && errno == EINTR)
			;
		close(pfd);
	}
	forget(pid);
	if (waitpid(pid, &st, WNOHANG) != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return -1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 200 + WTERMSIG(st);
}

int read_timeout(int fd, void *p, size_t n, int timeout_ms)
{
	return read_until(fd, p, n, pt_now_ms_monotonic() + (uint64_t)timeout_ms) == 0 ? 0 : -1;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	if (getdelim(&buf, &len, '\0', f) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

int count_text(const char *path, const char *needle)
{
	char *buf = slurp(path), *p;
	int n = 0;

	for (p = buf; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(buf);
	return n;
}

int wait_for_text(const char *path, const char *needle, int timeout_ms)
{
	uint64_t deadline = pt_now_ms_monotonic() + (uint64_t)timeout_ms;

	while (count_text(path, needle) == 0) {
		if (pt_now_ms_monotonic() >= deadline)
			return -1;
		usleep(10000); /* the log file has no change notification here */
	}
	return 0;
}
