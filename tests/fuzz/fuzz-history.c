/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the usage-history decoder (STATE_DIR/history.json).
 * Whatever parses must serialise again, and that must parse back to the
 * same text.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pt_history *h = NULL, *h2 = NULL;
	char *json = NULL, *json2 = NULL;

	if (pt_history_from_json((const char *)data, size, &h) != 0) {
		if (h)
			abort(); /* failure returns nothing */
		return 0;
	}
	if (pt_history_to_json(h, &json) != 0)
		abort();
	if (pt_history_from_json(json, strlen(json), &h2) != 0)
		abort();
	if (pt_history_to_json(h2, &json2) != 0 || strcmp(json, json2) != 0)
		abort();
	/* the counters read back as they were written */
	if (pt_history_total(h2, PT_HIST_USER, "alice", PT_HIST_REDEMPTIONS) !=
	    pt_history_total(h, PT_HIST_USER, "alice", PT_HIST_REDEMPTIONS))
		abort();
	/* the act-as figures (runs, CPU, peak memory) too */
	{
		struct pt_hist_act a = pt_history_act(h, "alice"), b = pt_history_act(h2, "alice");

		if (a.runs != b.runs || a.cpu_usec != b.cpu_usec || a.mem_peak != b.mem_peak)
			abort();
	}
	free(json);
	free(json2);
	pt_history_free(h);
	pt_history_free(h2);
	return 0;
}
