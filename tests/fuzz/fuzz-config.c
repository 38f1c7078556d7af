/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the tokend.conf parser: the input is the text of a
 * config file. A config that loads is then used the way tokend uses it
 * (actor look-ups, both policy sets evaluated) so that every accepted
 * config is also safe to run with; a refused one must say why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../tokend/conf.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (256 * 1024)

static void use(const struct pt_config *cfg)
{
	static const char *const groups[] = { "pertok", "users" };
	struct pt_policy_ctx ctx = {
		.user = "alice",
		.groups = groups,
		.n_groups = 2,
		.user_exists = true,
	};
	struct pt_decision d;

	for (size_t i = 0; i < cfg->n_actors; i++) {
		const struct pt_actor *a = &cfg->actors[i];

		if (pt_config_find_actor(cfg, a->name) != a || a->n_exe == 0)
			abort(); /* names are unique, every actor has an exe */
		(void)pt_policy_match_actor(cfg, a->uid, a->exe[0],
					    a->n_services ? a->services[0] : NULL);
		ctx.actor = a->name;
		ctx.holder = a->name;
		pt_policy_eval(cfg, cfg->issue, cfg->n_issue, &ctx, &d);
		pt_policy_eval(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d);
		if (d.live_lifetime > cfg->max_live_lifetime ||
		    d.persist_lifetime > cfg->max_persist_lifetime || d.reason[0] == '\0')
			abort();
	}
	ctx.actor = "self";
	ctx.holder = NULL;
	pt_policy_eval(cfg, cfg->issue, cfg->n_issue, &ctx, &d);
	if (cfg->live_lifetime > cfg->max_live_lifetime ||
	    cfg->persist_lifetime > cfg->max_persist_lifetime)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pt_config *cfg = NULL;
	char err[512];
	char *text;

	if (size > MAX_INPUT)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = '\0';
	if (pt_config_load_string(text, "fuzz.conf", &cfg, err, sizeof(err)) == 0) {
		use(cfg);
		pt_config_free(cfg);
	} else if (cfg != NULL || strncmp(err, "fuzz.conf", 9) != 0) {
		abort(); /* failure: nothing returned, and a FILE:LINE message */
	}
	free(text);
	return 0;
}
