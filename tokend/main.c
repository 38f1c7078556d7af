/* SPDX-License-Identifier: MIT */
/* tokend: pertok's privileged token exchange. See tokend(8). */
#include "conf.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "account.h"
#include "act.h"
#include "audit.h"
#include "front.h"
#include "history.h"
#include "usage.h"
#include "holder.h"
#include "keys.h"
#include "log.h"
#include "nssconf.h"
#include "ops.h"
#include "rotate.h"
#include "grant.h"
#include "sigreplay.h"
#include "seal.h"
#include "config-rpo.h"
#include "rpo.h"
#include "server.h"
#include "store.h"
#include "util.h"

static const char *config_path = PT_DEFAULT_CONFIG;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tokend [-c FILE] [-f] [--check-config]\n"
		"\n"
		"pertok's token exchange daemon (see tokend(8)).\n"
		"\n"
		"  -c, --config FILE   configuration file (default %s)\n"
		"  -f, --foreground    also log to standard error\n"
		"      --check-config  check the configuration file and exit\n"
		"  -h, --help          show this help\n"
		"  -V, --version       show the version\n",
		PT_DEFAULT_CONFIG);
}

/* Holds the file at each actor's exe path until the next reload (peer.h). */
static void pin_actors(struct pt_config *cfg)
{
	if (pt_config_pin_actors(cfg) == 0)
		return;
	for (size_t i = 0; i < cfg->n_actors; i++)
		for (size_t j = 0; cfg->actors[i].pins && j < cfg->actors[i].n_exe; j++)
			if (cfg->actors[i].pins[j].fd < 0 &&
			    strcmp(cfg->actors[i].exe[j], "*") != 0)
				pt_log_kv(LOG_NOTICE, "config", "warning", "actor",
					  cfg->actors[i].name, "exe", cfg->actors[i].exe[j],
					  "reason", "no such executable now; matched by path only",
					  NULL);
}

/* SIGHUP: a new policy, all or nothing. */
static void reload(struct pt_daemon *d)
{
	struct pt_config *cfg = NULL;
	char err[1024];
	int r;

	d->reload_at = d->clock ? d->clock() : pt_now_s();
	d->reload_error[0] = '\0';
	d->reload_warning[0] = '\0';
	/* nsswitch.conf again (glibc no longer re-reads it by itself in
	 * tokend: nssconf.c); a bad one keeps the previous view */
	if (pt_nssconf_apply(PT_NSSWITCH_CONF, err, sizeof(err)) < 0) {
		strncat(err, "; keeping the previous name service view",
			sizeof(err) - strlen(err) - 1);
		pt_log_kv(LOG_WARNING, "reload", "warning", "reason", err, NULL);
		snprintf(d->reload_warning, sizeof(d->reload_warning), "%s", err);
	}
	r = pt_config_load(config_path, &cfg, err, sizeof(err));
	if (r == 0 && cfg->rpo.enabled && (r = pt_rpo_range_check(&cfg->rpo, err, sizeof(err))) < 0)
		pt_config_free(cfg);
	if (r < 0) {
		strncat(err, "; keeping the previous policy", sizeof(err) - strlen(err) - 1);
		pt_log_kv(LOG_ERR, "reload", "error", "reason", err, NULL);
		snprintf(d->reload_error, sizeof(d->reload_error), "%s", err);
		return;
	}
	if (strcmp(cfg->socket_path, d->cfg->socket_path) != 0 ||
	    strcmp(cfg->state_dir, d->cfg->state_dir) != 0 ||
	    strcmp(cfg->seal_backend, d->cfg->seal_backend) != 0 ||
	    strcmp(cfg->seal_tcti ?: "", d->cfg->seal_tcti ?: "") != 0 ||
	    cfg->seal_srk_handle != d->cfg->seal_srk_handle ||
	    cfg->seal_persist_srk != d->cfg->seal_persist_srk ||
	    strcmp(cfg->alg, d->cfg->alg) != 0 ||
	    strcmp(cfg->front_user, d->cfg->front_user) != 0) {
		snprintf(d->reload_warning, sizeof(d->reload_warning),
			 "socket, state_dir, seal backend, tcti, srk, alg and front_user changes "
			 "take effect at the next start");
		pt_log_kv(LOG_WARNING, "reload", "warning", "reason", d->reload_warning, NULL);
	}
	if (cfg->seal_pcr_mask != d->cfg->seal_pcr_mask)
		pt_log_kv(LOG_NOTICE, "reload", "warning", "reason",
			  "seal.pcrs changed: run pertokctl reseal to bind the store key to the "
			  "new list",
			  NULL);
	/* keep what only a restart may change */
	free(cfg->socket_path);
	free(cfg->state_dir);
	free(cfg->seal_backend);
	free(cfg->alg);
	cfg->socket_path = strdup(d->cfg->socket_path);
	cfg->state_dir = strdup(d->cfg->state_dir);
	cfg->seal_backend = strdup(d->cfg->seal_backend);
	cfg->alg = strdup(d->cfg->alg);
	if (!cfg->socket_path || !cfg->state_dir || !cfg->seal_backend || !cfg->alg) {
		pt_log_kv(LOG_ERR, "reload", "error", "reason",
			  "out of memory; keeping the previous policy", NULL);
		snprintf(d->reload_error, sizeof(d->reload_error), "%s",
			 "out of memory; keeping the previous policy");
		pt_config_free(cfg);
		return;
	}
	pin_actors(cfg);
	pt_config_free(d->cfg); /* releases the previous policy's pinned executables */
	d->cfg = cfg;
	pt_usage_set_cap(d->usage, cfg->usage_max_entries_per_user);
	pt_account_cache_flush(); /* a reload re-reads everything */
	pt_log_kv(LOG_INFO, "reload", "allow", "config", config_path, "actors",
		  PT_LOG_U(cfg->n_actors), "issue_rules", PT_LOG_U(cfg->n_issue), "redeem_rules",
		  PT_LOG_U(cfg->n_redeem), NULL);
}

/* The state directory must be root's alone: a store anyone can write is no store. */
static int check_state_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (lstat(dir, &st) < 0) {
		snprintf(err, errlen, "cannot stat %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", dir);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 0077)) {
		snprintf(err, errlen,
			 "%s must be owned by uid %u with mode 0700 (is uid %u, mode %04o)", dir,
			 (unsigned)geteuid(), (unsigned)st.st_uid, st.st_mode & 07777);
		return -EPERM;
	}
	return 0;
}

/* A page for the store key that is locked in RAM and left out of core dumps. */
static uint8_t *secret_page(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	void *p =
		mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mlock(p, (size_t)pg) < 0)
		pt_log_kv(
			LOG_WARNING, "start", "warning", "reason",
			PT_LOG_F("mlock of the key page failed: %s (continuing)", strerror(errno)),
			NULL);
	madvise(p, (size_t)pg, MADV_DONTDUMP);
	return p;
}

/*
 * Least privilege: tokend stays uid 0 (it owns the state directory and reads
 * shadow as its owner) but keeps a single effective capability,
 * CAP_SYS_PTRACE, which the kernel requires to read /proc/PID/exe of other
 * users' processes (the peer's executable). CAP_SETUID stays permitted but
 * not effective: authkeys.c raises it only to read a user's
 * ~/.ssh/authorized_keys with that user's file system uid (setfsuid, as
 * sshd's temporarily_use_uid; SSH-signed consent; ~/.ssh is 0700), which
 * needs no CAP_DAC_* at all.
 * Everything else, and every way back, is dropped.
 */
/* rpo: the RPOs' reaper ends their processes (CAP_KILL) and takes their
 * homes back (CAP_CHOWN), approval gives a new home to its RPO (CAP_CHOWN);
 * without remote principals configured, neither is kept.
 * act: act-as's supervisor needs to become the user (PT_ACT_CAPS), kept
 * permitted but not effective, only when grants rules are configured. */
static int drop_privileges(bool rpo, bool act)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };
	static const unsigned act_caps[] = { PT_ACT_CAPS };
	const unsigned keep = CAP_SYS_PTRACE, keep_off = CAP_SETUID;
	const unsigned keep_rpo[] = { CAP_KILL, CAP_CHOWN };
	const struct group *tss = getgrnam("tss");

	/* Without CAP_DAC_OVERRIDE, root reaches the TPM device (root:tss or
	 * tss:tss, 0660) for reseal and rotate-key only through the group. */
	if (tss && setgroups(1, &tss->gr_gid) < 0)
		return -errno;
	for (unsigned cap = 0; cap <= CAP_LAST_CAP; cap++) {
		bool kept = cap == keep || cap == keep_off;

		for (size_t i = 0; rpo && i < PT_ELEMENTSOF(keep_rpo); i++)
			kept = kept || cap == keep_rpo[i];
		if (kept || prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1)
			continue; /* kept, or already outside the bounding set */
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno != EPERM)
				return -errno;
			/* no CAP_SETPCAP (a unit's CapabilityBoundingSet= already bounds
			 * us): the capset below still empties the permitted set */
			break;
		}
	}
	data[keep / 32].effective = data[keep / 32].permitted = 1u << (keep % 32);
	for (size_t i = 0; rpo && i < PT_ELEMENTSOF(keep_rpo); i++) {
		data[keep_rpo[i] / 32].effective |= 1u << (keep_rpo[i] % 32);
		data[keep_rpo[i] / 32].permitted |= 1u << (keep_rpo[i] % 32);
	}
	/* act-as (grants configured): what its supervisor needs to become the
	 * user, permitted but not effective; only the supervisor raises them
	 * (pt_act_supervise), and the command loses them with uid 0 */
	struct __user_cap_data_struct had[2] = { 0 };
	if (act && syscall(SYS_capget, &hdr, had) < 0)
		return -errno;
	for (size_t i = 0; act && i < PT_ELEMENTSOF(act_caps); i++) /* (those we have) */
		data[act_caps[i] / 32].permitted |=
			had[act_caps[i] / 32].permitted & (1u << (act_caps[i] % 32));
	data[keep_off / 32].permitted |= 1u << (keep_off % 32);
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
					      { "foreground", no_argument, NULL, 'f' },
					      { "check-config", no_argument, NULL, 'C' },
					      { "help", no_argument, NULL, 'h' },
					      { "version", no_argument, NULL, 'V' },
					      {} };
	struct pt_daemon d = { 0 };
	struct rlimit nocore = { 0, 0 };
	bool foreground = false, check = false, bound = false;
	uint8_t *storekey = NULL;
	struct pt_sealer *sealer = NULL;
	unsigned keygen = 0;
	char err[1024];
	size_t bad = 0;
	int c, r, lfd = -1, cfd = -1, pair = -1, activated = 0, created = 0;

	/* tokend never resolves a name through libnss_pertok (its own cache):
	 * an account check must see the directory, not the snapshot */
	(void)setenv("PERTOK_NSS_BYPASS", "1", 1);
	while ((c = getopt_long(argc, argv, "c:fhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'C':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tokend %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}

	if (check) {
		r = pt_config_load(config_path, &d.cfg, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		if (d.cfg->rpo.enabled && pt_rpo_range_check(&d.cfg->rpo, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: %s\n", config_path, err);
			pt_config_free(d.cfg);
			return 1;
		}
		printf("%s: OK (%zu actors, %zu issue rules, %zu redeem rules)\n", config_path,
		       d.cfg->n_actors, d.cfg->n_issue, d.cfg->n_redeem);
		/* what was read, in order: tokend.conf, drop-ins, types.d */
		for (size_t i = 0; i < d.cfg->files.n; i++)
			printf("  %s (%s)\n", d.cfg->files.path[i], d.cfg->files.what[i]);
		printf("  looked for drop-ins in %s, types in %s and %s\n",
		       d.cfg->files.dropin_dir ?: "-", d.cfg->files.types_vendor_dir ?: "-",
		       d.cfg->files.types_admin_dir ?: "-");
		pt_config_free(d.cfg);
		return 0;
	}

	/* No core dumps, no ptrace by peers, private files. */
	prctl(PR_SET_DUMPABLE, 0);
	setrlimit(RLIMIT_CORE, &nocore);
	umask(0077);
	signal(SIGPIPE, SIG_IGN);
	pt_log_open(foreground);
	if (CRYPTO_secure_malloc_init(64 * 1024, 32) != 1)
		pt_log_kv(LOG_WARNING, "start", "warning", "reason",
			  "OpenSSL secure heap unavailable: private keys live in ordinary memory",
			  NULL);

	r = pt_config_load(config_path, &d.cfg, err, sizeof(err));
	if (r < 0) {
		/* config errors quote names: escaped, one line form */
		pt_log_kv(LOG_ERR, "start", "error", "reason", err, NULL);
		return 1;
	}
	pin_actors(d.cfg);
	/* the RPOs' uids must be nobody else's (rpo.h, pertok-rpo(7)) */
	if (d.cfg->rpo.enabled && pt_rpo_range_check(&d.cfg->rpo, err, sizeof(err)) < 0) {
		pt_log_kv(LOG_ERR, "start", "error", "reason", err, NULL);
		pt_config_free(d.cfg);
		return 1;
	}
	/* accounts through the directory, never through libnss_pertok */
	if (pt_nssconf_apply(PT_NSSWITCH_CONF, err, sizeof(err)) < 0) {
		pt_log_kv(LOG_ERR, "start", "error", "reason", err, NULL);
		return 1;
	}
	{
		struct pt_seal_opts so = { .srk_handle = d.cfg->seal_srk_handle,
					   .persist_srk = d.cfg->seal_persist_srk,
					   .pcr_mask = d.cfg->seal_pcr_mask };
		bool auto_sw = false;

		if (d.cfg->seal_tcti)
			snprintf(so.tcti, sizeof(so.tcti), "%s", d.cfg->seal_tcti);
		r = pt_sealer_new(d.cfg->seal_backend, &so, d.cfg->state_dir, &sealer, &auto_sw,
				  err, sizeof(err));
		if (r < 0) {
			pt_log_kv(LOG_ERR, "start", "error", "reason",
				  PT_LOG_F("seal backend %s: %s", d.cfg->seal_backend, err), NULL);
			goto out;
		}
		d.sealer = sealer;
		if (sealer->notice[0])
			pt_log_kv(auto_sw ? LOG_WARNING : LOG_NOTICE, "start",
				  auto_sw ? "warning" : "allow", "seal", sealer->name, "reason",
				  sealer->notice, NULL);
	}
	if (strcmp(d.sealer->name, "software") == 0)
		pt_log_kv(LOG_WARNING, "start", "warning", "seal", "software", "reason",
			  PT_LOG_F("the store key is a plain file in %s; anyone who copies that "
				   "directory can use every token in it. Use a TPM where the host "
				   "has one.",
				   d.cfg->state_dir),
			  NULL);

	r = check_state_dir(d.cfg->state_dir, err, sizeof(err));
	if (r < 0) {
		pt_log_kv(LOG_ERR, "start", "error", "reason", err, NULL);
		goto out;
	}
	/* Descriptors: each connection costs the front one (and one more while
	 * it is handed to the key holder) and the key holder one (its /proc
	 * entry); the soft limit is raised to what max_connections needs. */
	{
		struct rlimit nf;
		rlim_t want = 2 * (rlim_t)d.cfg->max_connections + 256;

		if (getrlimit(RLIMIT_NOFILE, &nf) == 0 && nf.rlim_cur < want) {
			nf.rlim_cur = nf.rlim_max < want ? nf.rlim_max : want;
			(void)setrlimit(RLIMIT_NOFILE, &nf);
		}
	}
	/* The front is forked now, before any key is in this process's memory. */
	r = pt_server_listen(d.cfg, &lfd, &cfd, &activated, err, sizeof(err));
	if (r < 0) {
		pt_log_kv(LOG_ERR, "start", "error", "reason", err, NULL);
		goto out;
	}
	bound = !activated;
	d.listen_addr_len = sizeof(d.listen_addr);
	if (getsockname(lfd, (struct sockaddr *)&d.listen_addr, &d.listen_addr_len) < 0) {
		pt_log_kv(LOG_ERR, "start", "error", "reason",
			  PT_LOG_F("getsockname of the listening socket: %s", strerror(errno)),
			  NULL);
		r = -errno;
		goto out;
	}
	/* the credential socket (credential.h): the key holder knows its
	 * connections by this address */
	d.cred_addr_len = sizeof(d.cred_addr);
	if (cfd >= 0 && getsockname(cfd, (struct sockaddr *)&d.cred_addr, &d.cred_addr_len) < 0) {
		pt_log_kv(LOG_ERR, "start", "error", "reason",
			  PT_LOG_F("getsockname of the credential socket: %s", strerror(errno)),
			  NULL);
		r = -errno;
		goto out;
	}
	if (cfd < 0)
		d.cred_addr_len = 0;
	{
		struct pt_front f;

		r = pt_front_prepare(d.cfg, &f, err, sizeof(err));
		if (r == 0)
			r = pt_front_spawn(&f, lfd, cfd, &d.front_pid, &pair, err, sizeof(err));
		if (r < 0) {
			pt_log_kv(LOG_ERR, "start", "error", "reason", err, NULL);
			goto out;
		}
		d.front_uid = f.uid;
		snprintf(d.front_user, sizeof(d.front_user), "%s", f.user);
		close(lfd); /* the front's alone now */
		lfd = -1;
		if (cfd >= 0)
			close(cfd);
		cfd = -1;
	}
	storekey = secret_page();
	if (!storekey) {
		r = -ENOMEM;
		goto out;
	}
	d.storekey = storekey;
	r = pt_keygen_dir(d.cfg->state_dir, d.keydir, sizeof(d.keydir), &keygen);
	if (r < 0) {
		pt_log_kv(LOG_ERR, "start", "error", "reason",
			  PT_LOG_F("%s/current: %s", d.cfg->state_dir,
				   r == -EBADMSG ?
					   "missing or corrupt key generation pointer (gen-N "
					   "directories exist; write the newest name, e.g. gen-1, "
					   "into it)" :
					   strerror(-r)),
			  NULL);
		goto out;
	}
	r = pt_seal_load_or_create(d.sealer, d.keydir, storekey, &created, err, sizeof(err));
	if (r < 0) {
		pt_log_kv(LOG_ERR, "start", "error", "reason", PT_LOG_F("store key: %s", err),
			  NULL);
		goto out;
	}
	if (created)
		pt_log_kv(LOG_NOTICE, "start", "allow", "created", "store-key", "seal",
			  d.sealer->name, "state_dir", d.cfg->state_dir, NULL);
	r = pt_keys_load_or_create(d.keydir, storekey, d.cfg->alg, &d.keys, &created, err,
				   sizeof(err));
	if (r < 0) {
		pt_log_kv(LOG_ERR, "start", "error", "reason", PT_LOG_F("signing key: %s", err),
			  NULL);
		goto out;
	}
	if (created)
		pt_log_kv(LOG_NOTICE, "start", "allow", "created", "signing-key", "kid",
			  d.keys->kid, NULL);
	r = pt_store_open(d.keydir, storekey, &d.store, &bad);
	if (r < 0) {
		pt_log_kv(LOG_ERR, "start", "error", "reason",
			  r == -EBUSY ?
				  PT_LOG_F("the token store in %s is in use by another tokend "
					   "(one per state_dir)",
					   d.keydir) :
				  PT_LOG_F("cannot open the token store in %s: %s",
					   d.cfg->state_dir, strerror(-r)),
			  NULL);
		goto out;
	}
	r = pt_grants_open(d.keydir, storekey, &d.grants, err, sizeof(err));
	if (r < 0) {
		pt_log_kv(LOG_ERR, "start", "error", "reason",
			  PT_LOG_F("cannot open the grants: %s", err), NULL);
		goto out;
	}
	if (pt_store_imported(d.store))
		pt_log_kv(LOG_NOTICE, "store", "allow", "imported",
			  PT_LOG_U(pt_store_imported(d.store)), "dir", d.keydir, "reason",
			  "the one-file-per-token store of v0.1/v0.2 moved into tokens.mdb; the "
			  "imported files were removed",
			  NULL);
	if (bad)
		pt_log_kv(
			LOG_ERR, "start", "error", "bad_tokens", PT_LOG_U(bad), "reason",
			PT_LOG_F(
				"%zu token(s) in %s (tokens.mdb, or files left in tokens/) do "
				"not decrypt or parse; they were left untouched and are not served",
				bad, d.keydir),
			NULL);
	{
		char hpath[PATH_MAX], upath[PATH_MAX];
		bool hbad = false, ubad = false;

		snprintf(hpath, sizeof(hpath), "%s/history.json", d.cfg->state_dir);
		snprintf(upath, sizeof(upath), "%s/usage.json", d.cfg->state_dir);
		r = pt_history_open(hpath, &d.history, &hbad);
		if (r >= 0)
			r = pt_usage_open(upath, d.cfg->usage_max_entries_per_user, &d.usage,
					  &ubad);
		if (r < 0) {
			pt_log_kv(LOG_ERR, "start", "error", "reason",
				  PT_LOG_F("usage history: %s", strerror(-r)), NULL);
			goto out;
		}
		/* statistics: a damaged file is not a reason to stop */
		for (int k = 0; k < 2; k++)
			if (k ? ubad : hbad)
				pt_log_kv(
					LOG_WARNING, "start", "warning", "reason",
					PT_LOG_F("%s cannot be read or parsed: %s",
						 k ? upath : hpath,
						 k ? "kept as usage.json.bad; entitlement usage is "
						     "observed again from now, and auto_curtail's "
						     "curtailments in it no longer apply" :
						     "the usage history starts again"),
					NULL);
	}
	pt_keygen_cleanup(d.cfg->state_dir, keygen); /* leftovers of an interrupted rotation */
	pt_ops_clean_temps(&d);
	r = pt_ops_usage_open(&d);
	if (r < 0)
		goto out;
	r = pt_rpo_open(&d);
	if (r < 0)
		goto out;
	{
		char warn[1024];

		r = pt_audit_open_config(d.cfg, d.keydir, storekey, d.keys, &d.audit, warn,
					 sizeof(warn), err, sizeof(err));
		if (r < 0) {
			pt_log_kv(LOG_ERR, "start", "error", "reason",
				  PT_LOG_F("audit log: %s", err), NULL);
			goto out;
		}
		if (warn[0])
			pt_log_kv(LOG_ERR, "audit", "error", "reason", warn, NULL);
		if (pt_audit_notes(d.audit))
			pt_log_kv(LOG_WARNING, "audit", "repair", "reason", pt_audit_notes(d.audit),
				  NULL);
	}

	if (geteuid() == 0) {
		bool act = d.cfg->n_grant_rules > 0;

		/* act-as's cgroups go under one made now, while tokend may */
		if (act && (r = pt_act_prepare(err, sizeof(err))) < 0)
			pt_log_kv(LOG_WARNING, "start", "warning", "reason",
				  PT_LOG_F("act-as: %s; act-as requests are refused", err), NULL);
		r = drop_privileges(d.cfg->rpo.enabled, act);
		if (r < 0) {
			pt_log_kv(LOG_ERR, "start", "error", "reason",
				  PT_LOG_F("cannot drop capabilities: %s", strerror(-r)), NULL);
			goto out;
		}
	}
	d.started = pt_now_s();
	pt_log_kv(LOG_INFO, "start", "allow", "version", PACKAGE_VERSION, "socket",
		  d.cfg->socket_path, "activation", activated ? "systemd" : "none", "tokens",
		  PT_LOG_U(pt_store_count(d.store)), "kid", d.keys->kid, "seal", d.sealer->name,
		  "front_pid", PT_LOG_I(d.front_pid), "front_user", d.front_user, NULL);

	r = pt_holder_run(&d, pair, reload);

	pt_ops_housekeeping(&d);
	c = pt_audit_close(d.audit);
	d.audit = NULL;
	if (c < 0)
		pt_log_kv(LOG_ERR, "audit", "error", "reason",
			  PT_LOG_F("cannot write the final checkpoint: %s", strerror(-c)), NULL);
	pt_log_kv(LOG_INFO, "stop", r < 0 ? "error" : "allow", NULL);
out:
	if (bound) {
		char cpath[sizeof(d.cred_addr.sun_path)];

		unlink(d.cfg->socket_path); /* ours: nobody answers there any more */
		if (pt_server_cred_path(d.cfg, cpath, sizeof(cpath)) == 0)
			unlink(cpath);
	}
	if (lfd >= 0)
		close(lfd);
	if (cfd >= 0)
		close(cfd);
	if (pair >= 0)
		close(pair); /* the front sees the end and exits */
	pt_holder_reap(&d, true);
	pt_account_cache_flush();
	pt_ops_usage_close(&d);
	pt_rpo_close(&d);
	pt_history_free(d.history);
	pt_usage_free(d.usage);
	pt_store_free(d.store);
	pt_grants_free(d.grants);
	pt_sigreplay_free(d.sigreplay);
	if (storekey)
		OPENSSL_cleanse(storekey, PT_STORE_KEYLEN);
	pt_sealer_free(sealer);
	pt_audit_close(d.audit);
	pt_keys_free(d.keys);
	pt_config_free(d.cfg);
	return r < 0 ? 1 : 0;
}
