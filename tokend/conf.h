/* SPDX-License-Identifier: MIT */
/*
 * tokend configuration (libconfig syntax), see man/tokend.conf.5.
 * Loading is all-or-nothing: on any error nothing is returned and the error
 * text is "FILE:LINE: message" (LINE of the offending setting).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PT_DEFAULT_CONFIG SYSCONFDIR "/pertok/tokend.conf"

struct pt_tokentype; /* tokentype.h */
struct pt_issuer;    /* issuers.h */

/* The files a configuration was read from, in order (tokend --check-config
 * lists them): path[i], and what it was ("config", "drop-in", "masked
 * drop-in", "type", "masked type"). confdir.h. */
struct pt_conf_files {
	char **path;
	const char **what;
	size_t n;
	/* where it looked (NULL: nowhere) */
	char *dropin_dir, *types_vendor_dir, *types_admin_dir;
};

/* The file found at an actor's exe path when the config was loaded, held
 * open (O_PATH) so that its inode cannot be reused while the config lives. */
struct pt_exe_pin {
	int fd; /* -1: nothing pinned ("*", or no such file at load) */
	dev_t dev;
	ino_t ino;
};

struct pt_actor {
	char *name;
	uid_t uid;  /* peer uid that must match */
	char **exe; /* absolute paths of allowed executables; "*" = any */
	size_t n_exe;
	char **services; /* PAM services this actor may claim; empty = any */
	size_t n_services;
	int line;

	struct pt_exe_pin *pins; /* n_exe entries once pt_config_pin_actors ran, else NULL */
};

enum pt_action {
	PT_ACTION_ALLOW = 0,
	PT_ACTION_DENY = 1,
};

/* One rule of a policy set. Empty match lists match anything; "*" too. */
struct pt_rule {
	char *name; /* "issue[0]" style when not named in the file */
	int line;
	enum pt_action action;
	char **actors;
	size_t n_actors;
	char **users;
	size_t n_users;
	char **groups;
	size_t n_groups; /* user must be in one of them (now) */
	char **holders;
	size_t n_holders;
	/* redeem set: the persistable token's content (recorded at issuance) */
	char **token_entitlements; /* matches if the token records one of them */
	size_t n_token_entitlements;
	char **token_services; /* PAM service of the login that issued it */
	size_t n_token_services;
	char **token_actors; /* actor that obtained it ("self" = the user) */
	size_t n_token_actors;
	/* effects (0 = not set: fall back to the global default) */
	uint64_t live_lifetime;	   /* s */
	uint64_t persist_lifetime; /* s (issue set) */
	uint32_t max_outstanding;  /* issue set: persistable tokens per user */
	bool check_account;	   /* user exists, account not expired (default true) */
	bool check_password_lock;  /* also deny a '!' shadow password field (default false) */
	/* issue set: base entitlements, recorded in the persistable token */
	char **entitlements;
	size_t n_entitlements;
	/* redeem set (late-bound, applied to the live token of each redemption) */
	bool has_hours;		       /* hours = "HH:MM-HH:MM" (local time; wraps midnight) */
	uint16_t hours_from, hours_to; /* minutes since midnight, [from, to) */
	uint8_t days;		       /* days = [ "mon", ... ]: bit 0 = Sunday; 0 = any day */
	char **entitlements_add;
	size_t n_entitlements_add;
	char **entitlements_remove;
	size_t n_entitlements_remove;
	char **groups_add;
	size_t n_groups_add;
	char **groups_remove;
	size_t n_groups_remove;
	uint32_t max_uses; /* deny once the token was redeemed this often (0 = no cap) */
	uint64_t idle;	   /* s: a token not redeemed for this long is dead (0 = never) */
	uint64_t max_age;  /* s: deny tokens issued this long ago, whatever their exp (0 = no) */
	uint32_t max_redemptions_per_day; /* redeem set: per user, local day (0 = no cap) */
	uint32_t rate_n;      /* issue set: rate = "N/PERIOD" persistable tokens per user */
	uint64_t rate_period; /* s (0 = no rate limit) */

	/* issue set: EXCHANGE may renew a persistable token from a live token minted by its
	 * redemption (default false: only a login-minted live token can be exchanged) */
	bool renew_from_redeemed;

	/* redeem set: curtail = true (usage.h, pertokctl recommend): a rule that
	 * never decides; after the deciding rule it removes its entitlements_remove
	 * and groups_remove from the live token of every matching redemption
	 * (users, holders); note says why (refusals quote it) */
	bool curtail;
	char *note;
};

/* One rule of grants ( ) (config-grant.h): which users may grant which
 * servicers which commands, and the most a grant of theirs may hold. */
struct pt_grant_rule {
	char *name; /* "grants[0]" when not named in the file */
	int line;
	char **users; /* origins; "*" any */
	size_t n_users;
	char **servicers; /* "*" any */
	size_t n_servicers;
	char **commands; /* absolute paths, "DIR/ *" (its files) or "*" */
	size_t n_commands;
	uint64_t max_window;  /* s, not_after - max(now, not_before) */
	uint32_t max_uses;    /* per grant */
	uint32_t max_depth;   /* delegations (0: none) */
	uint64_t max_runtime; /* s per use; 0: tokend.max_job_runtime */
};

/* One entitlement the host defines (entitlements ( ), config-rpo.c): what a
 * template may ask for, and the local groups an RPO holding it gets as
 * supplementary groups. */
struct pt_entitlement {
	char *name;
	char **groups;
	size_t n_groups;
	int line;
};

/* rpo { } (config-rpo.c, man/tokend.conf.5, pertok-rpo(7)) */
struct pt_rpo_conf {
	uid_t uid_min, uid_max; /* the RPOs' uids (= gids); default 0x7FFD0000 + 64K */
	char *prefix;		/* of their names; default "rp-" */
	char *home_base;	/* homes are HOME_BASE/NAME; default "/home" */
	char *shell;		/* default "/bin/bash" */
	uint32_t max;		/* RPOs held (live + expired), default 1024 */
	uint64_t reap_delay;	/* s of boot time past not_after before the reaper acts (60) */
	bool enabled;		/* an rpo { } section is there: range checked at start */
	/* the files whose id ranges the uid range must not overlap ("" = skip) */
	char *subuid, *subgid, *login_defs, *sssd_conf, *smb_conf;
};

struct pt_config {
	char *path;
	struct pt_conf_files files; /* empty when loaded from a string */
	/* tokend { } */
	char *socket_path;	       /* default RUNDIR "/pertok/tokend.sock" */
	char *state_dir;	       /* default LOCALSTATEDIR "/lib/pertok" */
	char *issuer;		       /* default "pertok:" + hostname */
	char *audience;		       /* aud of live tokens, default "pertok" */
	char *alg;		       /* "EdDSA" (default) or "Ed25519" */
	char *front_user;	       /* the front process runs as this user; "_pertok" */
	unsigned max_connections;      /* default 128 */
	unsigned client_timeout_ms;    /* default 5000 */
	uint64_t live_lifetime;	       /* default 300 */
	uint64_t max_live_lifetime;    /* default 3600 */
	uint64_t persist_lifetime;     /* default 30 d */
	uint64_t max_persist_lifetime; /* default 60 d */
	uint32_t max_outstanding;      /* default 4 */
	uint64_t expire_grace;	       /* default 1 d: expired tokens kept before removal */
	uint64_t max_job_runtime;      /* default 12 h: refreshes end this long after the
					  redemption that started the job */
	/* libnss_pertok's file, LOCALSTATEDIR "/cache/pertok/nss.cache"; "" = none */
	char *nss_cache;
	/* redeem while the name service reports an error ("directory down"):
	 * false ("deny", default) refuses, true ("cached") decides from the
	 * identity recorded with the token */
	bool offline_cached;

	/* connections: unprivileged peers are neither root nor an actor */
	unsigned max_connections_per_uid; /* per unprivileged uid; default 8 */
	unsigned reserved_connections;	  /* for root and actors only; default 1/4 */
	uint64_t max_connection_lifetime; /* s, any connection; default 30 */
	uint32_t uid_rate_n;		  /* uid_request_rate "N/PERIOD", per unprivileged */
	uint64_t uid_rate_period;	  /* uid, in s; default 20/1s */
	/* seal { } */
	char *seal_backend;	  /* "software", "tpm2" or "auto" */
	char *seal_tcti;	  /* TCTI config string, NULL = "device:/dev/tpmrm0" */
	uint32_t seal_srk_handle; /* default 0x81000001 */
	bool seal_persist_srk;	  /* default true */
	uint32_t seal_pcr_mask;	  /* bit n = PCR n (SHA-256 bank); default 0 */
	/* audit { } */
	char *audit_file;		    /* NULL = state_dir "/audit.log" */
	uint32_t audit_checkpoint_every;    /* lines, default 1000 */
	uint64_t audit_checkpoint_interval; /* s, default 300 */
	bool audit_sync_batch;		    /* sync = "batch" (default "record": fdatasync each) */
	uint64_t audit_rotate_size;	    /* bytes, default 32M; 0 = never rotate */
	uint32_t audit_rotate_keep;	    /* rotated files kept, default 10 */
	uint32_t audit_refusal_burst;	    /* unprivileged refusals recorded per window, 10 */
	uint64_t audit_refusal_window;	    /* s, default 60 */
	/* usage { } (config-usage.c) */
	uint64_t usage_observation;	     /* s before any recommendation; default 30 d */
	uint32_t usage_unused_days;	     /* recommend's default --days; default 30 */
	bool usage_auto_curtail;	     /* apply recommendations (default false) */
	uint32_t usage_max_entries_per_user; /* usage.h cap; default 256 */
	/* actors ( ), issue ( ), redeem ( ) */
	struct pt_actor *actors;
	size_t n_actors;
	struct pt_rule *issue;
	size_t n_issue;
	struct pt_rule *redeem;
	size_t n_redeem;
	/* grant { }, grants ( ) (config-grant.h); no rule: no grants */
	uint32_t grant_max_per_user;	 /* grants a user holds as origin, default 20 */
	uint32_t grant_max_pending;	 /* pending requests per servicer, default 10 */
	uint64_t grant_request_ttl;	 /* an unanswered request lapses, default 7d */
	uint64_t grant_max_command_size; /* bytes of a command file hashed, default 64M */
	struct pt_grant_rule *grant_rules;
	size_t n_grant_rules;
	/* entitlements ( ), rpo { } (config-rpo.c) */
	struct pt_entitlement *entitlements;
	size_t n_entitlements;
	struct pt_rpo_conf rpo;
	/* types ( ): always holds the built-ins "live" and "persistable" (tokentype.h) */
	struct pt_tokentype *types;
	size_t n_types;
	/* issuers ( ): trusted external issuers (issuers.h), for pam_pertok.so accept */
	struct pt_issuer *issuers;
	size_t n_issuers;
};

/* Returns 0 or a negative errno; on failure err holds "FILE:LINE: message"
 * (FILE: the file the setting is in). Reads path, then its drop-ins
 * (path + ".d/ *.conf") and the token types of PT_TYPES_VENDOR_DIR and of
 * the directory "types.d" next to path (confdir.h). */
int pt_config_load(const char *path, struct pt_config **ret, char *err, size_t errlen);
#define PT_TYPES_VENDOR_DIR DATADIR "/pertok/types.d"
/* Same with the directories named (NULL: none). */
struct pt_config_dirs {
	const char *dropin_dir, *types_vendor_dir, *types_admin_dir;
};
int pt_config_load_dirs(const char *path, const struct pt_config_dirs *dirs, struct pt_config **ret,
			char *err, size_t errlen);
/* Same from memory; name is used in error messages in place of FILE. */
int pt_config_load_string(const char *text, const char *name, struct pt_config **ret, char *err,
			  size_t errlen);
void pt_config_free(struct pt_config *cfg);

/* Opens (O_PATH) every actor executable path of cfg and keeps the handles
 * until pt_config_free: a peer running the file that was at the path then
 * still matches after a package upgrade replaced it (peer.h). Paths that
 * do not exist stay unpinned. Returns how many paths could not be pinned. */
size_t pt_config_pin_actors(struct pt_config *cfg);

const struct pt_actor *pt_config_find_actor(const struct pt_config *cfg, const char *name);
