/* SPDX-License-Identifier: MIT */
#include "conf.h"

#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "daemon-state.h"
#include "grant.h"
#include "keys.h"
#include "seal.h"

int ut_daemon_open(struct pt_daemon *d, const char *conf, const char *statedir, uint8_t *storekey)
{
	char err[512], warn[512];
	int created;

	if (pt_config_load_string(conf, "test.conf", &d->cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "config: %s\n", err);
		return -1;
	}
	memset(storekey, 7, PT_STORE_KEYLEN);
	d->storekey = storekey;
	snprintf(d->keydir, sizeof(d->keydir), "%s", statedir);
	d->sealer = pt_sealer_get("software");
	if (pt_keys_load_or_create(statedir, storekey, d->cfg->alg, &d->keys, &created, err,
				   sizeof(err)) < 0 ||
	    pt_store_open(statedir, storekey, &d->store, NULL) < 0 ||
	    pt_grants_open(statedir, storekey, &d->grants, err, sizeof(err)) < 0 ||
	    pt_audit_open_config(d->cfg, storekey, d->keys, &d->audit, warn, sizeof(warn), err,
				 sizeof(err)) < 0) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	return 0;
}

void ut_daemon_close(struct pt_daemon *d)
{
	pt_audit_close(d->audit);
	pt_store_free(d->store);
	pt_grants_free(d->grants);
	pt_keys_free(d->keys);
	pt_config_free(d->cfg);
}
