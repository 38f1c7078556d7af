/* SPDX-License-Identifier: MIT */
#include "conf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "daemon-state.h"
#include "grant.h"
#include "keys.h"
#include "live.h"
#include "proto.h"
#include "seal.h"

struct pt_account *ut_account(const char *user, uid_t uid)
{
	struct pt_account *a = calloc(1, sizeof(*a));

	assert_non_null(a);
	a->user = strdup(user);
	a->uid = uid;
	a->gid = uid;
	a->gecos = strdup("");
	a->home = strdup("/nonexistent");
	a->shell = strdup("/bin/sh");
	a->groups = calloc(2, sizeof(char *));
	assert_non_null(a->groups);
	a->groups[0] = strdup(user);
	a->n_groups = 1;
	return a;
}

uint32_t ut_reply(struct pt_daemon *d, uint8_t req_type, struct ptbuf *out, struct pt_rep *ret)
{
	const uint8_t *payload;
	size_t len, used;
	uint8_t type;
	struct pt_rep rep = { 0 };
	uint32_t code;

	assert_int_equal(pt_frame_split(ptbuf_ptr(out), ptbuf_len(out), PT_MAX_FRAME, &type,
					&payload, &len, &used),
			 0);
	assert_int_equal(used, ptbuf_len(out)); /* exactly one reply */
	assert_int_equal(pt_rep_decode(req_type, type, payload, len, &rep), 0);
	assert_int_equal(pt_ops_commit(d), 0);
	code = rep.type == PT_OK ? 0 : rep.err_code;
	if (ret)
		*ret = rep;
	else
		pt_rep_clear(&rep);
	return code;
}

uint32_t ut_handle(struct pt_daemon *d, const struct pt_peer *peer, const struct pt_req *req,
		   const struct pt_live_presented *live, struct pt_rep *ret)
{
	struct ptbuf *out = ptbuf_new(4 + PT_MAX_FRAME);
	uint32_t code;
	int r;

	assert_non_null(out);
	r = pt_ops_handle(d, peer, req, live, out);
	assert_true(r == 0 || r == -EBADMSG);
	code = ut_reply(d, req->type, out, ret);
	ptbuf_free(out);
	return code;
}

uint32_t ut_call(struct pt_daemon *d, const struct pt_peer *peer, const struct pt_req *req,
		 struct pt_rep *ret)
{
	struct pt_live_presented live = { 0 };
	bool presents = pt_req_presents_live(req->type);
	uint32_t code;

	/* the front's part (a form error is a refusal in live) */
	if (presents)
		assert_int_not_equal(pt_live_parse(req->live_token, &live), -ENOMEM);
	code = ut_handle(d, peer, req, presents ? &live : NULL, ret);
	pt_live_presented_clear(&live);
	return code;
}

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
	    pt_audit_open_config(d->cfg, d->keydir, storekey, d->keys, &d->audit, warn,
				 sizeof(warn), err, sizeof(err)) < 0) {
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
