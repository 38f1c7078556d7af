/* SPDX-License-Identifier: MIT */
/* The key holder's side of privilege separation (holder.c, tokend(8)). */
#pragma once

#include "conf.h"
#include "ops.h"

/* Serves the front's messages on pair until SIGTERM/SIGINT, the front's end
 * or a protocol error. SIGHUP calls reload(d) and sends the front its new
 * limits. Returns 0 or -errno. */
int pt_holder_run(struct pt_daemon *d, int pair, void (*reload)(struct pt_daemon *d));

/* Sends the front its share of cfg (PS_LIMITS). 0 or -errno. */
int pt_holder_limits(const struct pt_config *cfg, int pair);

/* Reaps the front when it has ended (wait: after waiting up to 2 s for it,
 * then killing it) and logs how it ended unless it was a clean exit.
 * Returns whether it is gone. */
bool pt_holder_reap(struct pt_daemon *d, bool wait);
