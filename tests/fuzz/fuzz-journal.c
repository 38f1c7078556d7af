/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the usage journal (STATE_DIR/usage.journal): the
 * file reader (lines, over-long lines, a cut last line) and the decoders of
 * its "T" (token uses), "F" (token refusals), "H" (history counters) and
 * "A" (act-as figures) lines, as tokend replays them at start. The input is
 * the journal file (a file in a private temp directory, rewritten for each
 * input). Replaying twice must change nothing the second time: a line only
 * ever raises a counter.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "history.h"
#include "journal.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	struct pt_store *store;
	struct pt_history *hist;
	unsigned raised;
};

static void replay(void *u, char *line)
{
	struct ctx *c = u;
	size_t n = strlen(line);

	if (n >= PT_JOURNAL_LINE_MAX)
		abort(); /* the reader hands out bounded lines only */
	if (pt_store_replay(c->store, line) > 0)
		c->raised++;
	if (pt_history_replay(c->hist, line) > 0)
		c->raised++;
}

static struct pt_store *store;
static char path[64], dir[] = "/tmp/fuzz-journal.XXXXXX";

/* the temp directory goes with the process (make check runs this often) */
static void cleanup(void)
{
	char tokens[96];

	pt_store_free(store);
	snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
	unlink(path);
	rmdir(tokens);
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static uint8_t key[PT_STORE_KEYLEN];
	struct pt_journal *j = NULL;
	struct ctx c = { 0 };

	if (fd < 0) {
		if (!mkdtemp(dir) || pt_store_open(dir, key, &store, NULL) < 0)
			abort();
		atexit(cleanup);
		snprintf(path, sizeof(path), "%s/usage.journal", dir);
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			abort();
	}
	if (ftruncate(fd, 0) < 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	if (pt_journal_open(path, &j) < 0)
		abort();
	if (pt_history_open(NULL, &c.hist, NULL) < 0)
		abort();
	c.store = store;
	if (pt_journal_replay(j, replay, &c) < 0)
		abort();
	/* idempotent: the same lines again raise nothing */
	c.raised = 0;
	if (pt_journal_replay(j, replay, &c) < 0 || c.raised != 0)
		abort();
	pt_history_free(c.hist);
	pt_journal_free(j);
	return 0;
}
