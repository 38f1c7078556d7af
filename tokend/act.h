/* SPDX-License-Identifier: MIT */
/*
 * pertok act-as (tokend(8), "ACTING AS A USER"): a servicer runs a command
 * as a user under a grant (grant.h). The key holder decides (the grant, the
 * sha256 of the binary from a descriptor it opened itself), consumes one use
 * durably and writes the act.start record, synced, before it forks a
 * supervisor (act-exec.c) that runs the command in its own cgroup, session,
 * keyring and PAM session as the user. The key holder never waits for it:
 * the supervisor reports on a pipe that the key holder's event loop watches
 * (pt_act_event); the reply (the exit status) goes out then, with the
 * act.end record.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

struct pt_daemon;

/* Running commands: at most this many at once, and per servicer uid. */
#define PT_ACT_MAX_RUNS 64
#define PT_ACT_MAX_RUNS_PER_UID 4
/* A command the key holder killed (max_runtime, revoke, the caller gone):
 * its supervisor is killed too if it has not reported this much later (ms). */
#define PT_ACT_GRACE_MS 5000u
/* A killed run is killed again this often until it ends (a command its
 * supervisor starts into the cgroup after the kill). */
#define PT_ACT_REKILL_MS 100u
/* The binary a grant names is hashed whole: at most this size. */
#define PT_ACT_MAX_BINARY (512u * 1024u * 1024u)
/* A command without a max_runtime in its grant, nor a tokend.max_job_runtime,
 * still ends by then (s). */
#define PT_ACT_DEFAULT_RUNTIME 3600u

/* The capabilities the supervisor needs (tokend keeps them permitted, not
 * effective, when tokend.conf has grants rules): become the user (setuid,
 * setgid, initgroups), loginuid (audit_control), the kernel audit's
 * USER_CMD record (audit_write), the pty's owner (chown),
 * PAM session modules' limits (sys_resource), cgroup files of others'
 * (dac_override), signals to the user's processes (kill), a grant's
 * --no-network namespace (sys_admin: unshare(CLONE_NEWNET); kept only where
 * the bounding set has it, else such grants are refused at run time). */
#define PT_ACT_CAPS                                                                         \
	CAP_SETUID, CAP_SETGID, CAP_AUDIT_CONTROL, CAP_CHOWN, CAP_FOWNER, CAP_SYS_RESOURCE, \
		CAP_DAC_OVERRIDE, CAP_KILL, CAP_SYS_ADMIN
/* The cgroup (under tokend's own) that holds the runs' cgroups. */
#define PT_ACT_CGROUP "pertok-act"

/* At start, before tokend drops its capabilities: makes PT_ACT_CGROUP in
 * tokend's cgroup v2 (kept if it exists). 0, or -errno with err filled (the
 * runs are then refused, saying so). */
int pt_act_prepare(char *err, size_t errlen);

/* In the supervisor: the permitted capabilities made effective. 0 or -errno. */
int pt_act_raise_caps(void);

/* The key holder's epoll set, where the supervisors' report pipes go. */
void pt_act_init(int epoll_fd);

/* Is fd a supervisor's report pipe? */
bool pt_act_owns(int fd);

/* A report pipe is readable (or closed): the command ended. Records
 * act.end, and hands the reply to the client (conn's) to emit, which takes
 * rep. */
typedef void (*pt_act_emit_fn)(uint32_t conn, struct ptbuf *rep);
void pt_act_event(struct pt_daemon *d, int fd, pt_act_emit_fn emit);

/* Milliseconds (monotonic) until the next run passes its deadline; -1 when
 * none runs. pt_act_tick kills the runs past theirs. */
int64_t pt_act_next_ms(uint64_t now_ms);
void pt_act_tick(struct pt_daemon *d, uint64_t now_ms);

/* The client of conn is gone: its command is killed (nobody reads its
 * output or its status any more). */
void pt_act_conn_closed(uint32_t conn);

/* tokend stops: every running command is killed and its supervisor reaped. */
void pt_act_shutdown(struct pt_daemon *d);

/* How many run now (for status). */
size_t pt_act_running(void);

/* --- act-exec.c: the supervisor (forked by the key holder) --- */

/* What the key holder hands the supervisor. Strings are the parent's
 * (copied by fork). */
struct pt_act_spec {
	int fds[3];	   /* the caller's stdin, stdout, stderr */
	int exe_fd;	   /* the binary, opened and hashed by the key holder */
	int report_fd;	   /* the pipe's write end */
	bool pty;	   /* a fresh pseudo-terminal, relayed */
	char *const *argv; /* NULL-terminated */
	const char *user;  /* the user acted as */
	uid_t uid;
	gid_t gid;
	const char *home;
	const char *shell;
	uid_t servicer_uid; /* loginuid */
	const char *cgroup; /* the run's cgroup directory, "" for none */
	const char *token;  /* the live token for the keyring (secret) */
	uint64_t token_exp, now;
	const char *term; /* TERM for --pty (the servicer's, checked), or NULL */
	pid_t parent;	  /* the key holder: the supervisor dies with it */
	/* the grant's confinement (act-exec.c, confine_fs) */
	bool no_network;	/* a new, empty network namespace (only lo, down) */
	char *const *paths;	/* Landlock: only these plus the implicit set */
	const bool *path_write; /* per path: read-write (else read-only) */
	size_t n_paths;		/* 0: no file-system confinement */
};

/* The Landlock ABI the kernel offers (0: none, or disabled at boot). */
int pt_act_landlock_abi(void);
/* May the supervisor make a --no-network grant's namespace (CAP_SYS_ADMIN
 * permitted)? */
bool pt_act_can_unshare_net(void);

/* The supervisor's one report, written when the command ended. */
struct pt_act_report {
	uint32_t magic;
	int32_t child; /* the command's pid (0: never started) */
	int32_t wstatus;
	int32_t err; /* errno of the step that failed before exec, 0: none */
	uint64_t maxrss_kb;
	char step[128]; /* that step */
};
#define PT_ACT_REPORT_MAGIC 0x70746163u

/* In the forked supervisor: runs the command and reports; never returns. */
__attribute__((noreturn)) void pt_act_supervise(const struct pt_act_spec *s);

/* The safe PATH of a command's environment. */
#define PT_ACT_PATH "/usr/local/bin:/usr/bin:/bin"
/* The PAM service of act-as sessions (/etc/pam.d/pertok-act). */
#define PT_ACT_PAM_SERVICE "pertok-act"
