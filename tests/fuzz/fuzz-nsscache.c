/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the NSS cache reader (common/nsscache.c), what
 * libnss_pertok runs on the file it maps: validation, then every look-up,
 * enumeration and packing on whatever validated, with short and long
 * buffers, once as given and once with its checksum fixed up (so that the
 * fuzzer reaches the offsets and records). The input is copied into a buffer of its exact size so that a
 * read past the end is caught (ASan). A file the builder made must validate
 * and answer its own entries (the first bytes of the input pick them).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nsscache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const struct nssc_view *v)
{
	static char buf[8192];
	struct nssc_pw pw;
	struct nssc_gr gr;
	struct nssc_str s;
	struct passwd p;
	struct group g;
	struct spwd sp;
	uint32_t cur = 0, n = 0;
	int r;

	while ((r = nssc_pw_next(v, &cur, &pw)) != -ENOENT && n++ < 1000) {
		if (r < 0)
			continue;
		(void)nssc_pack_passwd(&pw, &p, buf, sizeof(buf));
		(void)nssc_pack_passwd(&pw, &p, buf, 7);
		(void)nssc_pack_shadow(&pw, &sp, buf, sizeof(buf));
		(void)nssc_pack_shadow(&pw, &sp, buf, 3);
		(void)nssc_expired(pw.expire, 1800000000);
		/* -ENOENT is possible: a record the tables do not lead to */
		(void)nssc_pw_byname(v, pw.name.p, &pw);
		(void)nssc_pw_byuid(v, pw.uid, &pw);
	}
	cur = n = 0;
	while ((r = nssc_gr_next(v, &cur, &gr)) != -ENOENT && n++ < 1000) {
		if (r < 0)
			continue;
		(void)nssc_pack_group(v, &gr, &g, buf, sizeof(buf));
		(void)nssc_pack_group(v, &gr, &g, buf + 1, 40);
		for (uint32_t i = 0; i < gr.n_mem && i < 8; i++)
			(void)nssc_gr_member(v, &gr, i, &s);
		(void)nssc_gr_has_member(v, &gr, "root");
		(void)nssc_gr_byname(v, gr.name.p, &gr);
		(void)nssc_gr_bygid(v, gr.gid, &gr);
	}
	(void)nssc_pw_byname(v, "root", &pw);
	(void)nssc_pw_byuid(v, 0, &pw);
	(void)nssc_gr_byname(v, "wheel", &gr);
	(void)nssc_gr_bygid(v, 10, &gr);
	(void)nssc_stale(v);
}

/* The input's bytes as names: build, validate, find each again */
static void roundtrip(const uint8_t *data, size_t size)
{
	struct nssc_builder *b = NULL;
	struct nssc_view v;
	struct nssc_pw pw;
	struct nssc_gr gr;
	uint8_t *f = NULL;
	size_t len;
	char name[16];
	size_t n = size / 4 > 64 ? 64 : size / 4;

	if (nssc_builder_new(&b) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		uint32_t id;

		memcpy(&id, data + 4 * i, 4);
		snprintf(name, sizeof(name), "u%08x", id);
		/* odd ids expire (a remote principal's entries: version 2) */
		if (nssc_builder_add_passwd_exp(b, name, id, id, "", "/", "/bin/sh",
						id & 1 ? id : 0) == 0 &&
		    nssc_builder_add_group_exp(b, name, id, id & 1 ? id : 0) == 0)
			(void)nssc_builder_add_member(b, name, name);
	}
	if (nssc_builder_finish(b, &f, &len) == 0) {
		if (nssc_open(f, len, &v) != 0)
			abort();
		for (size_t i = 0; i < n; i++) {
			uint32_t id;

			memcpy(&id, data + 4 * i, 4);
			snprintf(name, sizeof(name), "u%08x", id);
			if (nssc_pw_byname(&v, name, &pw) != 0 || pw.uid != id ||
			    pw.expire != (id & 1 ? id : 0))
				abort();
			if (nssc_pw_byuid(&v, id, &pw) != 0 || pw.uid != id)
				abort();
			if (nssc_gr_bygid(&v, id, &gr) != 0 || !nssc_gr_has_member(&v, &gr, name) ||
			    gr.expire != (id & 1 ? id : 0))
				abort();
		}
		free(f);
	}
	nssc_builder_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nssc_view v;
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (nssc_open(copy, size, &v) == 0)
		exercise(&v);
	/* again with the checksum made right, so the fuzzer gets past it to
	 * the offsets and records */
	if (size >= 20) {
		uint32_t h = 2166136261u;

		for (size_t i = 20; i < size; i++) {
			h ^= copy[i];
			h *= 16777619u;
		}
		memcpy(copy + 16, &h, 4);
		if (nssc_open(copy, size, &v) == 0)
			exercise(&v);
	}
	free(copy);
	roundtrip(data, size);
	return 0;
}
