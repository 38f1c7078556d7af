/* SPDX-License-Identifier: MIT */
/* What follows the requests: the group commit of usage counters, the usage
 * journal, and periodic housekeeping (clock steps, expiry, idle expiry). */
#include "conf.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "history.h"
#include "grant-internal.h"
#include "usage.h"
#include "journal.h"
#include "fileio.h"
#include "log.h"
#include "ops-internal.h"
#include "rpo.h"
#include "util.h"

/* Idle expiry: would a redemption by its holder call this token dead now?
 * The redemption's own decision (pt_policy_redeem), with the identity
 * recorded at issuance (no NSS look-ups here); only an idle denial counts. */
static bool idle_dead(struct pt_daemon *d, const struct pt_record *rec, uint64_t now)
{
	struct pt_policy_account acct = {
		.exists = true,
		.uid = rec->uid,
		.groups = (const char *const *)rec->groups,
		.n_groups = rec->n_groups,
	};
	struct pt_policy_token tok;
	struct pt_redeem_decision rd;
	bool any = false;

	for (size_t i = 0; i < d->cfg->n_redeem && !any; i++)
		any = d->cfg->redeem[i].idle != 0;
	if (!any)
		return false;
	policy_token(&tok, rec);
	struct pt_redeem_input in = {
		.actor = rec->holder,
		.user = rec->user,
		.holder = rec->holder,
		.token = &tok,
		.account = &acct,
		.now = now,
	};
	pt_policy_redeem(d->cfg, &in, &rd, NULL, 0);
	return rd.dec.idle_expired;
}

/* ------------------------------------------------------------ bookkeeping */

/* "op=OP result=error reason=WHAT<strerror(e)>" */
static void log_error(const char *op, const char *what, int e)
{
	char why[300];

	snprintf(why, sizeof(why), "%s%s", what, strerror(e));
	pt_log_kv(LOG_ERR, op, "error", "reason", why, NULL);
}

static uint64_t clock_ms(clockid_t id);

/* Writes the token files and history.json, then empties the usage journal
 * once both (and the directory entries) are on disk. */
static void compact(struct pt_daemon *d)
{
	int r, h;

	/* what batch mode only wrote: on disk now, as the audit log's records */
	if (d->journal && pt_journal_unsynced(d->journal) && (r = pt_journal_sync(d->journal)) < 0)
		log_error("flush", "usage journal: ", -r);
	r = pt_store_flush(d->store);
	if (r < 0)
		log_error("flush", "", -r);
	log_sync_failure(d);
	h = pt_history_flush(d->history);
	if (h < 0)
		log_error("flush", "usage history: ", -h);
	else if (h > 0)
		log_error("fsync", "usage history written, its directory not synced: ", h);
	if (h == 0) {
		h = pt_usage_flush(d->usage);
		if (h < 0)
			log_error("flush", "entitlement usage: ", -h);
		else if (h > 0)
			log_error("fsync",
				  "entitlement usage written, its directory not synced: ", h);
	}
	if (r == 0 && h == 0 && pt_store_synced(d->store) && d->journal &&
	    (r = pt_journal_reset(d->journal)) < 0)
		log_error("flush", "usage journal: ", -r);
}

bool pt_ops_commit_pending(const struct pt_daemon *d)
{
	return pt_audit_pending(d->audit) || pt_store_pending(d->store) ||
	       pt_history_pending(d->history) || pt_usage_pending(d->usage);
}

struct journal_sync {
	struct pt_journal *j;
	int r;
};

static void *journal_sync_thread(void *u)
{
	struct journal_sync *js = u;

	js->r = pt_journal_sync(js->j);
	return NULL;
}

int pt_ops_commit(struct pt_daemon *d)
{
	struct journal_sync js = { .j = d->journal };
	bool both = false;
	pthread_t t;
	int r = 0, k;

	if (!d->journal) {
		/* no journal (tests): the files themselves */
		if (pt_store_pending(d->store) && (k = pt_store_flush(d->store)) < 0)
			r = k;
		if (pt_history_pending(d->history) && (k = pt_history_flush(d->history)) < 0 &&
		    r == 0)
			r = k;
		if (pt_usage_pending(d->usage) && (k = pt_usage_flush(d->usage)) < 0 && r == 0)
			r = k;
	} else if (pt_store_pending(d->store) || pt_history_pending(d->history) ||
		   pt_usage_pending(d->usage) || pt_journal_pending(d->journal)) {
		if ((k = pt_store_journal(d->store, d->journal)) < 0)
			r = k;
		if ((k = pt_history_journal(d->history, d->journal)) < 0 && r == 0)
			r = k;
		if (d->usage && (k = pt_usage_journal(d->usage, d->journal)) < 0 && r == 0)
			r = k;
		if (d->cfg->audit_sync_batch) {
			/* audit sync = "batch": written now (a crash of tokend loses
			 * nothing), synced with the audit log every few seconds */
			if ((k = pt_journal_write(d->journal)) < 0 && r == 0)
				r = k;
		} else {
			/* two files to sync: side by side, so that the round waits for
			 * about one disk flush rather than two (the file system commits
			 * both in one journal transaction when it can) */
			both = pt_audit_pending(d->audit) &&
			       pthread_create(&t, NULL, journal_sync_thread, &js) == 0;
			if (!both && (k = pt_journal_sync(d->journal)) < 0 && r == 0)
				r = k;
		}
	}
	/* the audit log's group commit (in batch mode it syncs at housekeeping) */
	k = pt_audit_pending(d->audit) ? pt_audit_sync(d->audit) : 0;
	if (both) {
		pthread_join(t, NULL);
		if (js.r < 0 && r == 0)
			r = js.r;
	}
	if (r < 0)
		log_error("commit", "usage counters: ", -r);
	log_sync_failure(d);
	if (k < 0 && r == 0)
		r = k;
	return r;
}

static void replay_line(void *u, char *line)
{
	struct pt_daemon *d = u;
	int r = pt_store_replay(d->store, line);

	if (r == 0)
		r = pt_history_replay(d->history, line);
	if (r == 0 && d->usage)
		r = pt_usage_replay(d->usage, line);
	if (r > 0)
		d->n_replayed++;
}

int pt_ops_usage_open(struct pt_daemon *d)
{
	char path[PATH_MAX], why[PATH_MAX + 100];
	int r;

	snprintf(path, sizeof(path), "%s/usage.journal", d->cfg->state_dir);
	r = pt_journal_open(path, &d->journal);
	if (r >= 0)
		r = pt_journal_replay(d->journal, replay_line, d);
	if (r < 0) {
		snprintf(why, sizeof(why), "usage journal %s: %s", path, strerror(-r));
		pt_log_kv(LOG_ERR, "start", "error", "reason", why, NULL);
		return r;
	}
	if (d->n_replayed) {
		snprintf(why, sizeof(why),
			 "usage journal: %llu counters newer than the files restored",
			 (unsigned long long)d->n_replayed);
		pt_log_kv(LOG_NOTICE, "start", "allow", "reason", why, NULL);
	}
	compact(d);
	/* the clocks' first reading: a step before the first housekeeping shows */
	d->hk_real_ms = clock_ms(CLOCK_REALTIME);
	d->hk_boot_ms = clock_ms(CLOCK_BOOTTIME);
	return 0;
}

void pt_ops_usage_close(struct pt_daemon *d)
{
	pt_journal_free(d->journal);
	d->journal = NULL;
}

static uint64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A wall-clock step between two housekeeping rounds: CLOCK_REALTIME moved
 * by more than CLOCK_BOOTTIME (which counts suspend and is never set). */
static void check_clock(struct pt_daemon *d, uint64_t real_ms, uint64_t boot_ms)
{
	if (d->hk_boot_ms && boot_ms >= d->hk_boot_ms) {
		int64_t jump = ((int64_t)real_ms - (int64_t)d->hk_real_ms) -
			       (int64_t)(boot_ms - d->hk_boot_ms);

		if (jump >= PT_CLOCK_JUMP_MS || jump <= -PT_CLOCK_JUMP_MS) {
			char delta[24];

			snprintf(delta, sizeof(delta), "%+lld", (long long)(jump / 1000));
			pt_log_kv(LOG_WARNING, "clock", "jump", "delta", delta, "realtime",
				  PT_LOG_U(real_ms / 1000), "reason",
				  "the wall clock was stepped; expired tokens are kept for "
				  "expire_grace",
				  NULL);
			pt_ops_clock_stepped(d, jump / 1000);
		}
	}
	d->hk_real_ms = real_ms;
	d->hk_boot_ms = boot_ms;
}

void pt_ops_clean_temps(struct pt_daemon *d)
{
	char dirs[3][PATH_MAX];

	snprintf(dirs[0], sizeof(dirs[0]), "%s", d->cfg->state_dir);
	snprintf(dirs[1], sizeof(dirs[1]), "%s/codes", d->cfg->state_dir);
	snprintf(dirs[2], sizeof(dirs[2]), "%s", d->keydir);
	for (size_t i = 0; i < 3; i++) {
		size_t n = 0;
		int r;

		if (i == 2 && strcmp(dirs[2], dirs[0]) == 0)
			break;
		/* the audit log's own temporaries are the audit writer's */
		r = pt_remove_stale_temps(dirs[i], ".audit.", &n);
		if (r < 0 && r != -ENOENT)
			pt_log_kv(LOG_ERR, "cleanup", "error", "dir", dirs[i], "reason",
				  strerror(-r), NULL);
		if (n)
			pt_log_kv(LOG_NOTICE, "cleanup", "allow", "dir", dirs[i], "removed",
				  PT_LOG_U(n), "reason", "temporary files of interrupted writes",
				  NULL);
	}
}

/* Expiry and idle expiry never delete on the strength of one wall-clock
 * reading: a token that looks dead is refused at once (op_redeem), but
 * removed only after housekeeping has seen it dead for expire_grace of
 * CLOCK_BOOTTIME, which no clock step moves. A step back that makes it
 * live again before that restores it. */
void pt_ops_housekeeping(struct pt_daemon *d)
{
	uint64_t now = pt_ops_now(d), boot = clock_ms(CLOCK_BOOTTIME);
	uint64_t grace_ms = d->cfg->expire_grace * 1000;
	int r;

	check_clock(d, clock_ms(CLOCK_REALTIME), boot);
	if (d->audit && pt_audit_tick(d->audit, now) < 0)
		pt_log_kv(LOG_ERR, "audit", "error", "reason",
			  pt_audit_failure(d->audit) ?: "checkpoint failed", NULL);
	flush_refusals(d);
	pt_ops_auto_curtail(d);
	pt_ops_usage_prune(d);
	compact(d);
	pt_keys_prune(d->keys, d->cfg->alg, now); /* rotated-out keys past their last token */
	if (d->grants)
		pt_grant_expire(d, now); /* lapsed requests, grants over or revoked */
	if (d->rpo)
		pt_rpo_reap(d, now);
	for (size_t i = pt_store_count(d->store); i > 0; i--) {
		struct pt_record *rec = pt_store_at(d->store, i - 1);
		char id[PT_ID_LEN];
		bool idle = false;

		if (rec->exp > now && !(idle = idle_dead(d, rec, now))) {
			rec->dead_since_ms = 0; /* alive (again) */
			continue;
		}
		if (!rec->dead_since_ms) {
			rec->dead_since_ms = boot ? boot : 1;
			continue;
		}
		if (boot - rec->dead_since_ms < grace_ms)
			continue;
		memcpy(id, rec->id, sizeof(id));
		pt_log_kv(LOG_INFO, "expire", "allow", "user", rec->user, "holder", rec->holder,
			  "id", id, "reason", idle ? "idle" : "expired", NULL);
		r = pt_store_remove(d->store, id);
		if (r < 0)
			pt_log_kv(LOG_ERR, "expire", "error", "id", id, "reason", strerror(-r),
				  NULL);
	}
}
