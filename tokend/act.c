/* SPDX-License-Identifier: MIT */
/* pertok act-as in the key holder (act.h): the decision, the durable use,
 * the act.start record, the supervisor's spawn and its end. */
#include "conf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "act.h"
#include "audit.h"
#include "grant-cred.h"
#include "grant.h"
#include "history.h"
#include "log.h"
#include "ops-internal.h"
#include "util.h"

struct act_run {
	uint32_t conn;
	pid_t sup; /* the supervisor */
	int rfd;   /* its report pipe */
	uid_t servicer_uid;
	char cg[PATH_MAX]; /* the run's cgroup directory */
	uint64_t start_ms, deadline_ms, start_wall;
	const char *killed; /* why the key holder killed it, NULL: it was not */
	uint64_t killed_ms; /* when (monotonic) */
	bool sup_killed;    /* its supervisor too, PT_ACT_GRACE_MS later */
	bool registered;
	uint64_t handle; /* pt_grant_running_add */
	/* for act.end */
	char grant[PT_ID_LEN], parent[PT_ID_LEN];
	char user[PT_MAX_STR + 1], servicer[PT_MAX_STR + 1], exe[PATH_MAX], unit[PT_MAX_STR + 1];
	char path[PATH_MAX], digest[65], jti[64], rule[128], use[32];
	char *argv; /* joined */
	pid_t peer_pid;
	struct act_run *next;
};

static struct act_run *runs;
static char cg_parent[PATH_MAX - 64]; /* PT_ACT_CGROUP's directory, "" : none */
static char cg_error[256] = "act-as was not prepared at start (no grants rules then?)";
static size_t n_runs;
static int act_ep = -1;
static uint64_t run_seq, holder_start;

void pt_act_init(int epoll_fd)
{
	act_ep = epoll_fd;
}

size_t pt_act_running(void)
{
	return n_runs;
}

bool pt_act_owns(int fd)
{
	for (struct act_run *r = runs; r; r = r->next)
		if (r->rfd == fd)
			return true;
	return false;
}

/* ---------------------------------------------------------------- cgroups */

/* The cgroup v2 directory tokend runs in (ret, PATH_MAX): the unified
 * hierarchy's mount point (/proc/self/mountinfo) and tokend's path in it
 * (/proc/self/cgroup "0::PATH"). */
static int own_cgroup(char *ret, size_t len)
{
	char line[4096], mnt[PATH_MAX] = "", path[PATH_MAX] = "";
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *dash = strstr(line, " - cgroup2 "), *p = line;

		if (!dash)
			continue;
		for (int i = 0; i < 4 && p; i++)
			p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL;
		if (p && sscanf(p, "%4095s", mnt) == 1)
			break;
	}
	fclose(f);
	if (!mnt[0])
		return -ENOENT;
	f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "0::", 3) == 0 && sscanf(line + 3, "%4095s", path) == 1)
			break;
	fclose(f);
	if (!path[0])
		return -ENOENT;
	if ((size_t)snprintf(ret, len, "%s%s", mnt, strcmp(path, "/") == 0 ? "" : path) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* The start time (clock ticks after boot, field 22) in a /proc/PID/stat
 * descriptor, which it closes; 0 when fd < 0 or unreadable. */
static uint64_t stat_start(int fd)
{
	char buf[1024], *p;
	ssize_t n = -1;
	uint64_t v = 0;

	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	for (int i = 0; p && i < 20; i++)
		p = strchr(p + 1, ' ');
	if (p)
		v = strtoull(p + 1, NULL, 10);
	return v;
}

/* A process's start time, 0 when it is gone. */
static uint64_t pid_start(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return stat_start(open(path, O_RDONLY | O_CLOEXEC));
}

static void cg_kill(const char *cg);
static void cg_remove(const char *cg);

/* The runs of a key holder that is gone (killed, crashed: its supervisors
 * died with it, PR_SET_PDEATHSIG, but not their commands) are killed and
 * their cgroups removed: nothing runs on past its max_runtime with nobody
 * to end it. A run's cgroup is run-PID-START-SEQ (its key holder's pid and
 * start time, so a live tokend's runs beside ours are kept, and a reused pid
 * does not keep a dead one's). */
static void sweep_orphans(void)
{
	DIR *dir = opendir(cg_parent);
	struct dirent *e;
	char cg[PATH_MAX];

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		unsigned long long start = 0, seq = 0;
		int pid = 0;

		if (e->d_type != DT_DIR ||
		    sscanf(e->d_name, "run-%d-%llu-%llu", &pid, &start, &seq) != 3 || pid <= 0 ||
		    pid_start((pid_t)pid) == (uint64_t)start)
			continue;
		snprintf(cg, sizeof(cg), "%s/%s", cg_parent, e->d_name);
		pt_log_kv(LOG_WARNING, "act", "kill", "cgroup", cg, "reason",
			  "a run of a key holder that is gone", NULL);
		cg_kill(cg);
		cg_remove(cg);
	}
	closedir(dir);
}

int pt_act_prepare(char *err, size_t errlen)
{
	char own[PATH_MAX - 128];
	int r = own_cgroup(own, sizeof(own));

	if (r < 0) {
		snprintf(err, errlen, "no cgroup v2 hierarchy for tokend: %s", strerror(-r));
		goto out;
	}
	snprintf(cg_parent, sizeof(cg_parent), "%s/%s", own, PT_ACT_CGROUP);
	if (mkdir(cg_parent, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		/* read-only: the unit's sandbox (tokend.service ships with it off) */
		snprintf(err, errlen, "cannot make the cgroup %s: %s%s", cg_parent, strerror(errno),
			 r == -EROFS ? " (ProtectControlGroups=yes in tokend.service? act-as needs "
				       "ProtectControlGroups=no and Delegate=yes, tokend(8))" :
				       "");
		cg_parent[0] = '\0';
	} else
		sweep_orphans();
out:
	if (r < 0)
		snprintf(cg_error, sizeof(cg_error), "%s", err);
	return r;
}

static uint64_t cg_value(const char *cg, const char *file, const char *key)
{
	char p[PATH_MAX + 32], line[256];
	uint64_t v = 0;
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", cg, file);
	f = fopen(p, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		size_t k = key ? strlen(key) : 0;

		if (!key) {
			v = strtoull(line, NULL, 10);
			break;
		}
		if (strncmp(line, key, k) == 0 && line[k] == ' ') {
			v = strtoull(line + k + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* Every process in cg: cgroup.kill, else SIGKILL to each in cgroup.procs. */
static void cg_kill(const char *cg)
{
	char p[PATH_MAX + 32];
	FILE *f;
	int fd;

	if (!cg[0])
		return;
	snprintf(p, sizeof(p), "%s/cgroup.kill", cg);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		bool ok = write(fd, "1", 1) == 1;

		close(fd);
		if (ok)
			return;
	}
	snprintf(p, sizeof(p), "%s/cgroup.procs", cg);
	f = fopen(p, "re");
	if (!f)
		return;
	for (long pid; fscanf(f, "%ld", &pid) == 1;)
		if (pid > 1)
			kill((pid_t)pid, SIGKILL);
	fclose(f);
}

/* Removes cg once its processes are gone (they die asynchronously after
 * cg_kill): a few tries now, the rest at each tick. */
#define CG_LEFT_MAX 64
static char *cg_left[CG_LEFT_MAX];

static void cg_remove(const char *cg)
{
	for (int i = 0; i < 20; i++) {
		if (rmdir(cg) == 0 || errno == ENOENT)
			return;
		if (errno != EBUSY)
			break;
		usleep(1000);
	}
	for (size_t i = 0; i < CG_LEFT_MAX; i++)
		if (!cg_left[i]) {
			cg_left[i] = strdup(cg);
			return;
		}
	pt_log_kv(LOG_WARNING, "act", "error", "cgroup", cg, "reason",
		  "cannot remove the run's cgroup (still busy)", NULL);
}

static void cg_retry(void)
{
	for (size_t i = 0; i < CG_LEFT_MAX; i++)
		if (cg_left[i] && (rmdir(cg_left[i]) == 0 || errno == ENOENT)) {
			free(cg_left[i]);
			cg_left[i] = NULL;
		} else if (cg_left[i])
			cg_kill(cg_left[i]);
}

/* ----------------------------------------------------------- the caller */

/* The unit the caller runs in: the last part of its cgroup v2 path when
 * it names a unit ("x.service", "x.scope"), else "" (ret, len). */
static void peer_unit(const struct pt_peer *peer, char *ret, size_t len)
{
	char buf[4096];
	ssize_t n = -1;
	int fd;

	ret[0] = '\0';
	if (peer->procfd < 0)
		return;
	fd = openat(peer->procfd, "cgroup", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		char *end = strchr(l, '\n'), *slash;

		if (end)
			*end = '\0';
		if ((strncmp(l, "0::", 3) == 0 || strstr(l, ":name=systemd:")) &&
		    (slash = strrchr(l, '/')) &&
		    (strstr(slash, ".service") || strstr(slash, ".scope"))) {
			snprintf(ret, len, "%s", slash + 1);
			return;
		}
		if (end)
			*end = '\n';
	}
}

/* The caller's start time (clock ticks after boot, /proc/PID/stat field 22). */
static uint64_t peer_start(const struct pt_peer *peer)
{
	return peer->procfd < 0 ? 0 :
				  stat_start(openat(peer->procfd, "stat", O_RDONLY | O_CLOEXEC));
}

/* The binary: opened here, O_RDONLY, a regular file, hashed whole. *ret_fd
 * is what the supervisor executes (execveat of this descriptor). */
static int open_binary(const char *path, int *ret_fd, uint8_t digest[32], char *why, size_t wl)
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t buf[65536];
	struct stat st;
	unsigned dl = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		snprintf(why, wl, "cannot open %s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > PT_ACT_MAX_BINARY) {
		snprintf(why, wl, "%s is not a regular file of at most %u bytes", path,
			 PT_ACT_MAX_BINARY);
		r = -EINVAL;
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = -ENOMEM;
		snprintf(why, wl, "cannot hash %s", path);
		goto out;
	}
	for (off_t off = 0;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(why, wl, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			r = -EIO;
			goto out;
		}
		off += n;
	}
	if (EVP_DigestFinal_ex(ctx, digest, &dl) != 1 || dl != 32) {
		r = -EIO;
		snprintf(why, wl, "cannot hash %s", path);
	}
out:
	EVP_MD_CTX_free(ctx);
	if (r < 0)
		close(fd);
	else
		*ret_fd = fd;
	return r;
}

static char *join_argv(char *const *argv, size_t n)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < n; i++)
		len += strlen(argv[i]) + 1;
	s = malloc(len);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

/* ---------------------------------------------------------------- records */

static const char *nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

/* The act.* record of a run (and its log line). */
static int act_record(struct pt_daemon *d, const char *op, const char *result, int prio,
		      const struct act_run *a, const char *const *more, size_t n_more,
		      const char *reason)
{
	char suid[16], spid[16], sstart[24];
	const char *kv[64];
	size_t n = 0;

	snprintf(suid, sizeof(suid), "%u", (unsigned)a->servicer_uid);
	snprintf(spid, sizeof(spid), "%d", (int)a->peer_pid);
	snprintf(sstart, sizeof(sstart), "%" PRIu64, a->start_wall);
#define KV(k, v)                       \
	do {                           \
		kv[n++] = (k);         \
		kv[n++] = nonempty(v); \
	} while (0)
	KV("grant", a->grant);
	KV("parent", a->parent);
	KV("origin", a->user);
	KV("actor", a->servicer);
	KV("actor_uid", suid);
	KV("actor_exe", a->exe);
	KV("actor_unit", a->unit);
	KV("actor_pid", spid);
	KV("actor_start", sstart);
	KV("command", a->path);
	KV("sha256", a->digest);
	KV("argv", a->argv);
	KV("use", a->use);
	KV("cgroup", a->cg);
	KV("loginuid", suid);
	KV("jti", a->jti);
#undef KV
	for (size_t i = 0; i < n_more && n + 2 <= PT_ELEMENTSOF(kv); i++) {
		kv[n++] = more[2 * i];
		kv[n++] = more[2 * i + 1];
	}
	struct pt_audit_event ev = {
		.op = op,
		.result = result,
		.user = a->user[0] ? a->user : NULL,
		.actor = a->servicer,
		.peer_uid = a->servicer_uid,
		.peer_pid = a->peer_pid,
		.exe = a->exe[0] ? a->exe : NULL,
		.service = PT_ACT_PAM_SERVICE,
		.rule = a->rule[0] ? a->rule : NULL,
		.reason = reason,
		.id = a->grant[0] ? a->grant : NULL,
		.detail = kv,
		.n_detail = n / 2,
	};
	pt_log_kv(prio, "act", result, "record", op, "user", ev.user, "actor", a->servicer,
		  "peer_uid", PT_LOG_U(a->servicer_uid), "peer_pid", PT_LOG_I(a->peer_pid), "grant",
		  ev.id, "command", a->path[0] ? a->path : NULL, "cgroup", a->cg[0] ? a->cg : NULL,
		  "reason", reason, NULL);
	int r = pt_audit_append(d->audit, &ev);
	if (r < 0)
		pt_log_kv(LOG_ERR, "audit", "error", "reason",
			  pt_audit_failure(d->audit) ?: strerror(-r), NULL);
	return r;
}

/* A refusal: act.deny (rate-limited for unprivileged callers like every
 * refusal) and the error reply. */
static int deny(struct call *c, const struct act_run *a, uint32_t code, const char *reason)
{
	if (c->privileged || pt_audit_refusal_admit(c->d->audit, c->peer->uid, "act.deny",
						    pt_now_ms_monotonic() / 1000))
		act_record(c->d, "act.deny", "deny", LOG_NOTICE, a, NULL, 0, reason);
	if (code == PT_E_DENIED)
		c->d->n_denied++;
	return pt_rep_encode_error(c->out, code, reason);
}

/* -------------------------------------------------------------- the runs */

static void run_free(struct act_run *a)
{
	if (!a)
		return;
	if (a->rfd >= 0) {
		if (act_ep >= 0)
			epoll_ctl(act_ep, EPOLL_CTL_DEL, a->rfd, NULL);
		close(a->rfd);
	}
	free(a->argv);
	free(a);
}

static void run_kill(struct act_run *a, const char *why)
{
	if (!a->killed) {
		a->killed = why;
		a->killed_ms = pt_now_ms_monotonic();
	}
	cg_kill(a->cg);
}

/* pt_grant_running_add's callback: the grant (or an ancestor) was revoked. */
static void run_revoked(void *ctx)
{
	run_kill(ctx, "the grant was revoked");
}

int64_t pt_act_next_ms(uint64_t now_ms)
{
	int64_t best = -1;

	for (struct act_run *a = runs; a; a = a->next) {
		int64_t left = a->deadline_ms > now_ms ? (int64_t)(a->deadline_ms - now_ms) : 0;

		if (a->killed && !a->sup_killed)
			left = a->killed_ms + PT_ACT_GRACE_MS > now_ms ?
				       (int64_t)(a->killed_ms + PT_ACT_GRACE_MS - now_ms) :
				       0;
		/* a killed run is killed again until it ends (see pt_act_tick) */
		if (a->killed && left > PT_ACT_REKILL_MS)
			left = PT_ACT_REKILL_MS;
		if ((!a->killed || !a->sup_killed) && (best < 0 || left < best))
			best = left;
	}
	for (size_t i = 0; i < CG_LEFT_MAX; i++)
		if (cg_left[i] && (best < 0 || best > 1000))
			best = 1000;
	return best;
}

void pt_act_tick(struct pt_daemon *d, uint64_t now_ms)
{
	(void)d;
	for (struct act_run *a = runs; a; a = a->next)
		if (!a->killed && now_ms >= a->deadline_ms)
			run_kill(a, "past the grant's window or max runtime");
		else if (a->killed && (a->sup_killed || now_ms < a->killed_ms + PT_ACT_GRACE_MS))
			/* cgroup.kill ends what is in the cgroup now, not a command
			 * its supervisor starts into it a moment later (a revoke
			 * that came between the fork and the command's clone3):
			 * again at every tick until the run ends */
			cg_kill(a->cg);
		else if (a->killed && !a->sup_killed && now_ms >= a->killed_ms + PT_ACT_GRACE_MS) {
			/* a supervisor that does not end once its command is gone
			 * (blocked writing to a caller's pipe nobody reads, a PAM
			 * module that hangs) would hold the run, its slot and the
			 * reply for ever */
			a->sup_killed = true;
			kill(a->sup, SIGKILL);
		}
	cg_retry();
}

void pt_act_conn_closed(uint32_t conn)
{
	for (struct act_run *a = runs; a; a = a->next)
		if (a->conn == conn) {
			a->conn = 0; /* no reply: nobody reads it */
			run_kill(a, "the caller went away");
		}
}

void pt_act_event(struct pt_daemon *d, int fd, pt_act_emit_fn emit)
{
	struct act_run **pp = &runs, *a;
	struct pt_act_report rep = { 0 };
	struct pt_rep out = { .type = PT_OK };
	char status[16], child[16], dur[24], cpu[24], mem[24], err[300];
	uint64_t now = pt_now_ms_monotonic();
	ssize_t k;
	int st;

	while (*pp && (*pp)->rfd != fd)
		pp = &(*pp)->next;
	if (!(a = *pp))
		return;
	do
		k = read(fd, &rep, sizeof(rep));
	while (k < 0 && errno == EINTR);
	if (k != (ssize_t)sizeof(rep) || rep.magic != PT_ACT_REPORT_MAGIC) {
		memset(&rep, 0, sizeof(rep));
		rep.wstatus = 127 << 8;
		rep.err = EIO;
		snprintf(rep.step, sizeof(rep.step), "the supervisor ended without a report");
		if (a->sup_killed) { /* killed with its command: the command's end */
			rep.wstatus = SIGKILL;
			rep.err = 0;
			rep.step[0] = '\0';
		}
	}
	rep.step[sizeof(rep.step) - 1] = '\0';
	*pp = a->next;
	n_runs--;
	/* the supervisor exits right after its report (or is gone already) */
	while (waitpid(a->sup, &st, 0) < 0 && errno == EINTR)
		;
	if (a->registered)
		pt_grant_running_remove(d, a->handle);
	out.cpu_usec = cg_value(a->cg, "cpu.stat", "usage_usec");
	out.mem_peak = cg_value(a->cg, "memory.peak", NULL);
	if (!out.mem_peak)
		out.mem_peak = rep.maxrss_kb * 1024; /* no memory controller here */
	/* what outlives the command goes with it */
	cg_kill(a->cg);
	cg_remove(a->cg);
	if (WIFSIGNALED(rep.wstatus)) {
		out.signaled = 1;
		out.status = 128 + (uint32_t)WTERMSIG(rep.wstatus);
	} else
		out.status = (uint32_t)WEXITSTATUS(rep.wstatus) & 0xff;
	snprintf(status, sizeof(status), "%u", out.status);
	snprintf(child, sizeof(child), "%d", (int)rep.child);
	snprintf(dur, sizeof(dur), "%" PRIu64, now - a->start_ms);
	snprintf(cpu, sizeof(cpu), "%" PRIu64, out.cpu_usec);
	snprintf(mem, sizeof(mem), "%" PRIu64, out.mem_peak);
	if (rep.err)
		snprintf(err, sizeof(err), "%s: %s", rep.step, strerror(rep.err));
	const char *more[] = {
		"child_pid",   child,
		"exit_status", status,
		"signaled",    out.signaled ? "1" : "0",
		"duration_ms", dur,
		"cpu_usec",    cpu,
		"mem_peak",    mem,
		"killed",      a->killed,
		"failed_step", rep.err ? err : NULL,
	};
	act_record(d, "act.end", rep.err ? "error" : "allow", rep.err ? LOG_WARNING : LOG_INFO, a,
		   more, PT_ELEMENTSOF(more) / 2,
		   a->killed ? a->killed :
		   rep.err   ? err :
			       NULL);
	if (d->history) {
		uint64_t t = pt_ops_now(d);

		pt_history_add(d->history, PT_HIST_USER, a->user, PT_HIST_REQUESTS, t);
		pt_history_add(d->history, PT_HIST_USER, a->user,
			       rep.err ? PT_HIST_FAILURES : PT_HIST_GRANTED, t);
		/* the user pays for what is done in their name (journaled with
		 * the counters above before this round's replies) */
		pt_history_act_add(d->history, a->user, out.cpu_usec, out.mem_peak);
	}
	if (a->conn && emit) {
		struct ptbuf *b = ptbuf_new(4 + PT_MAX_FRAME);

		if (b && (rep.err ? pt_rep_encode_error(b, PT_E_INTERNAL, err) :
				    pt_rep_encode(PT_ACT, &out, b)) == 0)
			emit(a->conn, b);
		else
			ptbuf_free(b);
	}
	run_free(a);
}

void pt_act_shutdown(struct pt_daemon *d)
{
	while (runs) {
		struct act_run *a = runs;

		runs = a->next;
		n_runs--;
		run_kill(a, "tokend stops");
		kill(a->sup, SIGKILL);
		while (waitpid(a->sup, NULL, 0) < 0 && errno == EINTR)
			;
		if (a->registered)
			pt_grant_running_remove(d, a->handle);
		cg_remove(a->cg);
		run_free(a);
	}
	for (size_t i = 0; i < CG_LEFT_MAX; i++) {
		free(cg_left[i]);
		cg_left[i] = NULL;
	}
}

/* -------------------------------------------------------------- the handler */

static size_t runs_of(uid_t uid)
{
	size_t n = 0;

	for (struct act_run *a = runs; a; a = a->next)
		n += a->servicer_uid == uid;
	return n;
}

/* The live token of the command's keyring: the user's, its act chain the
 * servicer (RFC 8693: the current actor outermost). */
static int act_token(struct pt_daemon *d, const struct pt_account *acct, const char *servicer,
		     uint64_t lifetime, uint64_t now, char **ret, uint64_t *ret_exp, char *jti,
		     size_t jtilen)
{
	struct pt_live_claims lc = { 0 };
	int r = live_base_claims(d, acct, lifetime, now, &lc);

	if (r >= 0)
		r = pt_live_set_strv(&lc.groups, &lc.n_groups, acct->groups, acct->n_groups);
	if (r >= 0 && (r = pt_live_set_str(&lc.act[0], servicer)) >= 0)
		lc.n_act = 1;
	if (r >= 0)
		r = pt_live_set_str(&lc.svc, PT_ACT_PAM_SERVICE);
	if (r >= 0)
		r = pt_live_sign(d->keys, d->cfg->alg, &lc, ret);
	if (r >= 0) {
		*ret_exp = lc.exp;
		snprintf(jti, jtilen, "%s", lc.jti);
	}
	pt_live_claims_clear(&lc);
	return r;
}

int op_act(struct call *c)
{
	struct pt_daemon *d = c->d;
	const struct pt_req *q = c->req;
	struct act_run *a = calloc(1, sizeof(*a));
	struct pt_account *acct = NULL;
	struct pt_grant *g;
	char why[PATH_MAX + 256], *token = NULL, rule[128] = "", gid[PT_ID_LEN] = "";
	bool cred = (q->flags & PT_ACT_CRED) != 0;
	uint8_t digest[32];
	uint64_t now = pt_ops_now(d), runtime, token_exp = 0;
	int exe_fd = -1, pipefd[2] = { -1, -1 }, r;
	struct passwd pw, *pwp = NULL;
	char pwbuf[4096];
	pid_t pid;

	if (!a)
		return pt_rep_encode_error(c->out, PT_E_INTERNAL, "out of memory");
	a->rfd = -1;
	a->servicer_uid = c->peer->uid;
	a->peer_pid = c->peer->pid;
	a->start_wall = peer_start(c->peer);
	snprintf(a->exe, sizeof(a->exe), "%s", c->peer->exe_known ? c->peer->exe : "");
	peer_unit(c->peer, a->unit, sizeof(a->unit));
	if (getpwuid_r(c->peer->uid, &pw, pwbuf, sizeof(pwbuf), &pwp) == 0 && pwp)
		snprintf(a->servicer, sizeof(a->servicer), "%s", pw.pw_name);
	else
		snprintf(a->servicer, sizeof(a->servicer), "%u", (unsigned)c->peer->uid);
	snprintf(a->user, sizeof(a->user), "%s", q->user ? q->user : "");
	snprintf(a->grant, sizeof(a->grant), "%s", q->id ? q->id : "");
	snprintf(a->path, sizeof(a->path), "%s", q->argv ? q->argv[0] : "");
	a->argv = join_argv(q->argv, q->n_argv);
	if (!a->argv) {
		r = pt_rep_encode_error(c->out, PT_E_INTERNAL, "out of memory");
		goto out;
	}
	/* (the front passes exactly three; a front that does not is refused) */
	if (c->n_fds != PT_ACT_NFDS) {
		r = deny(c, a, PT_E_PROTO, "an act request must carry exactly 3 descriptors");
		goto out;
	}
	if (!pt_name_valid(q->user) || (!pt_name_valid(q->id) && !(cred && q->id && !q->id[0]))) {
		r = deny(c, a, PT_E_PROTO, "invalid user name or grant id");
		goto out;
	}
	if (cred) {
		/* the grant by its credential: bound to this uid and executable */
		if (!q->credential ||
		    pt_grant_credential_resolve(d, q->credential, c->peer->uid,
						c->peer->exe_known ? c->peer->exe : NULL, gid, why,
						sizeof(why)) < 0) {
			r = deny(c, a, PT_E_DENIED, q->credential ? why : "no grant credential");
			goto out;
		}
		if (q->id[0] && strcmp(q->id, gid) != 0) {
			r = deny(c, a, PT_E_DENIED, "the credential stands for another grant");
			goto out;
		}
		snprintf(a->grant, sizeof(a->grant), "%s", gid);
	}
	g = pt_grant_find(d, a->grant);
	if (!g) {
		r = deny(c, a, PT_E_NOTFOUND, "no such grant");
		goto out;
	}
	snprintf(a->parent, sizeof(a->parent), "%s", g->parent);
	r = pt_ops_account(d, q->user, &acct);
	if (r < 0 || !acct) {
		r = deny(c, a, PT_E_NOTFOUND, "no such user");
		goto out;
	}
	if (acct->uid == 0) {
		r = deny(c, a, PT_E_DENIED, "act-as never runs a command as root");
		goto out;
	}
	/* everything but the digest first: tokend (root) opens only a path the
	 * grant names for this servicer, user and arguments (never one a caller
	 * picked: a device whose open acts, a file whose existence or size only
	 * root can see, a 512 MiB file hashed for nothing) */
	r = pt_grant_decide(d, g, c->peer->uid, a->exe[0] ? a->exe : NULL,
			    a->unit[0] ? a->unit : NULL, q->user, q->argv, q->n_argv, NULL, now,
			    rule, sizeof(rule), why, sizeof(why));
	if (r < 0 && strcmp(rule, "grant.sha256") != 0) {
		snprintf(a->rule, sizeof(a->rule), "%s", rule);
		r = deny(c, a, PT_E_DENIED, why[0] ? why : "the grant does not allow this");
		goto out;
	}
	r = open_binary(q->argv[0], &exe_fd, digest, why, sizeof(why));
	if (r < 0) {
		r = deny(c, a, PT_E_DENIED, why);
		goto out;
	}
	pt_hex(digest, 32, a->digest);
	r = pt_grant_decide(d, g, c->peer->uid, a->exe[0] ? a->exe : NULL,
			    a->unit[0] ? a->unit : NULL, q->user, q->argv, q->n_argv, digest, now,
			    rule, sizeof(rule), why, sizeof(why));
	snprintf(a->rule, sizeof(a->rule), "%s", rule);
	if (r < 0) {
		r = deny(c, a, PT_E_DENIED, why[0] ? why : "the grant does not allow this");
		goto out;
	}
	/* confined to paths: Landlock, or no run (never silently unconfined) */
	if (g->n_paths && pt_act_landlock_abi() < 1) {
		snprintf(a->rule, sizeof(a->rule), "grant.confine");
		r = deny(c, a, PT_E_DENIED,
			 "the grant confines the command to paths but this kernel has no "
			 "Landlock (CONFIG_SECURITY_LANDLOCK, lsm=landlock): not run");
		goto out;
	}
	if (g->no_network && !pt_act_can_unshare_net()) {
		snprintf(a->rule, sizeof(a->rule), "grant.confine");
		r = deny(c, a, PT_E_DENIED,
			 "the grant is --no-network but tokend lacks CAP_SYS_ADMIN (its unit's "
			 "CapabilityBoundingSet=) to make the namespace: not run");
		goto out;
	}
	if (n_runs >= PT_ACT_MAX_RUNS || runs_of(c->peer->uid) >= PT_ACT_MAX_RUNS_PER_UID) {
		snprintf(why, sizeof(why),
			 "too many commands running (at most %u per servicer, %u in all)",
			 PT_ACT_MAX_RUNS_PER_UID, PT_ACT_MAX_RUNS);
		r = deny(c, a, PT_E_LIMIT, why);
		goto out;
	}
	/* the run's own cgroup: no cgroup, no run (its processes could not be
	 * counted, limited in time or killed as one) */
	r = cg_parent[0] ? 0 : -ENOENT;
	if (r == 0) {
		if (!holder_start)
			holder_start = pid_start(getpid());
		snprintf(a->cg, sizeof(a->cg), "%s/run-%d-%" PRIu64 "-%" PRIu64, cg_parent,
			 (int)getpid(), holder_start, ++run_seq);
		if (mkdir(a->cg, 0755) < 0)
			r = -errno;
	}
	if (r < 0) {
		if (cg_parent[0])
			snprintf(why, sizeof(why), "cannot make the command's cgroup %s: %s", a->cg,
				 strerror(-r));
		else
			snprintf(why, sizeof(why), "no cgroup for the command: %s", cg_error);
		a->cg[0] = '\0';
		r = deny(c, a, PT_E_INTERNAL, why);
		goto out;
	}
	/* the grant's, else what grants rules default to (tokend.max_job_runtime) */
	runtime = g->max_runtime	  ? g->max_runtime :
		  d->cfg->max_job_runtime ? d->cfg->max_job_runtime :
					    PT_ACT_DEFAULT_RUNTIME;
	if (runtime > PT_ACT_MAX_RUNTIME)
		runtime = PT_ACT_MAX_RUNTIME;
	if (g->not_after > now && g->not_after - now < runtime)
		runtime = g->not_after - now;
	/* one use, durably, before anything runs */
	r = pt_grant_consume(d, g, now);
	if (r < 0) {
		snprintf(why, sizeof(why), "the grant's use cannot be counted: %s",
			 r == -EDQUOT ? "no use left" :
			 r == -EACCES ? "revoked or out of its window" :
					strerror(-r));
		r = deny(c, a, r == -EDQUOT ? PT_E_LIMIT : PT_E_DENIED, why);
		goto out_cg;
	}
	snprintf(a->use, sizeof(a->use), "%u/%u", g->uses, g->max_uses);
	r = act_token(d, acct, a->servicer, runtime + 60, now, &token, &token_exp, a->jti,
		      sizeof(a->jti));
	if (r < 0) {
		r = deny(c, a, PT_E_INTERNAL, "cannot sign the command's live token");
		goto out_cg;
	}
	a->start_ms = pt_now_ms_monotonic();
	a->deadline_ms = a->start_ms + runtime * 1000;
	/* act.start, on disk before the fork */
	if (act_record(d, "act.start", "allow", LOG_INFO, a, NULL, 0, NULL) < 0 ||
	    pt_audit_sync(d->audit) < 0) {
		r = pt_rep_encode_error(c->out, PT_E_INTERNAL, "audit log cannot be written");
		goto out_cg;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = deny(c, a, PT_E_INTERNAL, "pipe failed");
		goto out_cg;
	}
	const char *term = NULL; /* (a TERM of the servicer's is not passed: none known here) */
	struct pt_act_spec spec = {
		.fds = { c->fds[0], c->fds[1], c->fds[2] },
		.exe_fd = exe_fd,
		.report_fd = pipefd[1],
		.pty = (q->flags & PT_ACT_PTY) != 0,
		.argv = q->argv,
		.user = acct->user,
		.uid = acct->uid,
		.gid = acct->gid,
		.home = acct->home ? acct->home : "/",
		.shell = acct->shell ? acct->shell : "/bin/sh",
		.servicer_uid = c->peer->uid,
		.cgroup = a->cg,
		.token = token,
		.token_exp = token_exp,
		.now = now,
		.term = term ? term : "xterm",
		.parent = getpid(),
		.no_network = g->no_network,
		.paths = g->paths,
		.path_write = g->path_write,
		.n_paths = g->n_paths,
	};
	pid = fork();
	if (pid < 0) {
		r = deny(c, a, PT_E_INTERNAL, "fork failed");
		goto out_cg;
	}
	if (pid == 0) {
		close(pipefd[0]);
		pt_act_supervise(&spec);
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	a->sup = pid;
	a->rfd = pipefd[0];
	pipefd[0] = -1;
	a->conn = c->conn;
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = a->rfd };
	if (act_ep >= 0 && epoll_ctl(act_ep, EPOLL_CTL_ADD, a->rfd, &ev) < 0)
		pt_log_kv(LOG_ERR, "act", "error", "reason", "cannot watch the supervisor", NULL);
	if (pt_grant_running_add(d, a->grant, run_revoked, a, &a->handle) == 0)
		a->registered = true;
	a->next = runs;
	runs = a;
	n_runs++;
	a = NULL;
	c->deferred = true;
	r = 0;
	goto out;
out_cg:
	if (a && a->cg[0])
		rmdir(a->cg);
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (exe_fd >= 0)
		close(exe_fd);
	pt_free_secret(token);
	pt_account_free(acct);
	run_free(a);
	return r;
}
