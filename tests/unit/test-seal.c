/* SPDX-License-Identifier: MIT */
/* Store-key sealing: the software backend and load-or-create. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "seal.h"

#define HEADER "pertok-sealed-v1\nbackend=software\n"

struct tmp {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/pertok-test-seal-XXXXXX");
	if (!mkdtemp(t->dir))
		return -1;
	snprintf(t->path, sizeof(t->path), "%s/storekey.sealed", t->dir);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tmp *t = *state;
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", t->dir);
	if (system(cmd) != 0)
		return -1;
	free(t);
	return 0;
}

static void write_all(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

static const struct pt_sealer *software(void)
{
	const struct pt_sealer *s = pt_sealer_get("software");

	assert_non_null(s);
	return s;
}

static void test_sealer_get(void **state)
{
	const struct pt_sealer *s = software();

	assert_string_equal(s->name, "software");
	assert_non_null(s->strength);
	assert_true(strlen(s->strength) > 0);
	assert_non_null(strstr(s->strength, "weak"));
	assert_null(pt_sealer_get("tpm"));
	assert_null(pt_sealer_get(""));
	assert_null(pt_sealer_get(NULL));
}

static void test_software_backend(void **state)
{
	const struct pt_sealer *s = software();
	uint8_t key[PT_STORE_KEYLEN], back[PT_STORE_KEYLEN], *blob = NULL;
	size_t len = 0;
	char err[256] = "";

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(s->seal(s, key, &blob, &len, err, sizeof(err)), 0);
	assert_int_equal(len, strlen(HEADER) + PT_STORE_KEYLEN);
	assert_memory_equal(blob, HEADER, strlen(HEADER));
	assert_memory_equal(blob + strlen(HEADER), key, PT_STORE_KEYLEN);
	assert_int_equal(s->unseal(s, blob, len, back, err, sizeof(err)), 0);
	assert_memory_equal(back, key, sizeof(key));

	/* short, long, and foreign blobs */
	memset(back, 0x55, sizeof(back));
	assert_int_equal(s->unseal(s, blob, len - 1, back, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "truncated or corrupt: the software backend expects 32 key bytes "
				 "after the header, found 31");
	assert_int_equal(s->unseal(s, blob, 10, back, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "not a pertok sealed key (bad or missing header)");
	free(blob);
	{
		const char foreign[] =
			"pertok-sealed-v1\nbackend=tpm2\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
		assert_int_equal(s->unseal(s, (const uint8_t *)foreign, sizeof(foreign) - 1, back,
					   err, sizeof(err)),
				 -EBADMSG);
		assert_string_equal(err, "sealed by backend tpm2, not software");
	}
	for (size_t i = 0; i < sizeof(back); i++)
		assert_int_equal(back[i], 0x55); /* untouched on failure */
}

static void test_create_then_load(void **state)
{
	struct tmp *t = *state;
	uint8_t key[PT_STORE_KEYLEN], key2[PT_STORE_KEYLEN], *p = NULL;
	size_t n = 0;
	int created = -1;
	char err[512] = "";
	struct stat st;

	assert_int_equal(
		pt_seal_load_or_create(software(), t->dir, key, &created, err, sizeof(err)), 0);
	assert_int_equal(created, 1);
	assert_string_equal(err, "");
	assert_int_equal(stat(t->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(pt_read_file(t->path, 4096, &p, &n), 0);
	assert_int_equal(n, strlen(HEADER) + PT_STORE_KEYLEN);
	assert_memory_equal(p, HEADER, strlen(HEADER));
	assert_memory_equal(p + strlen(HEADER), key, PT_STORE_KEYLEN);
	free(p);

	assert_int_equal(
		pt_seal_load_or_create(software(), t->dir, key2, &created, err, sizeof(err)), 0);
	assert_int_equal(created, 0);
	assert_memory_equal(key, key2, sizeof(key));

	/* another state dir: another key */
	{
		char dir2[] = "/tmp/pertok-test-seal2-XXXXXX", path2[128];
		assert_non_null(mkdtemp(dir2));
		assert_int_equal(
			pt_seal_load_or_create(software(), dir2, key2, &created, err, sizeof(err)),
			0);
		assert_int_equal(created, 1);
		assert_memory_not_equal(key, key2, sizeof(key));
		snprintf(path2, sizeof(path2), "%s/storekey.sealed", dir2);
		assert_int_equal(unlink(path2), 0);
		assert_int_equal(rmdir(dir2), 0);
	}
	/* NULL ret_created and NULL err are allowed */
	assert_int_equal(pt_seal_load_or_create(software(), t->dir, key2, NULL, NULL, 0), 0);
	assert_memory_equal(key, key2, sizeof(key));
}

/* Error cases: exact message, the key output untouched, the file untouched. */
static const struct {
	const char *content;
	size_t len;
	mode_t mode;
	const char *msg; /* after "DIR/storekey.sealed" */
	int r;
} bad[] = {
	{ "pertok-sealed-v1\nbackend=tpm2\nblob", 34, 0600,
	  " was sealed by backend tpm2, config says software", -EBADMSG },
	{ HEADER "0123456789012345678901234567890", sizeof(HEADER) - 1 + 31, 0600,
	  ": truncated or corrupt: the software backend expects 32 key bytes after the header, "
	  "found 31",
	  -EBADMSG },
	{ HEADER, sizeof(HEADER) - 1, 0600,
	  ": truncated or corrupt: the software backend expects 32 key bytes after the header, "
	  "found 0",
	  -EBADMSG },
	{ HEADER "012345678901234567890123456789012", sizeof(HEADER) - 1 + 33, 0600,
	  ": truncated or corrupt: the software backend expects 32 key bytes after the header, "
	  "found 33",
	  -EBADMSG },
	{ "pertok-sealed-v1\nback", 21, 0600, ": not a pertok sealed key (bad or missing header)",
	  -EBADMSG },
	{ "pertok-sealed-v2\nbackend=software\n01234567890123456789012345678901", 66, 0600,
	  ": not a pertok sealed key (bad or missing header)", -EBADMSG },
	{ "pertok-sealed-v1\nbackend=Soft ware\n01234567890123456789012345678901", 67, 0600,
	  ": not a pertok sealed key (bad or missing header)", -EBADMSG },
	{ "", 0, 0600, ": empty file (truncated?)", -EBADMSG },
	{ HEADER "01234567890123456789012345678901", sizeof(HEADER) - 1 + 32, 0644,
	  ": permissions 0644 are too open (expected 0600)", -EPERM },
	{ HEADER "01234567890123456789012345678901", sizeof(HEADER) - 1 + 32, 0640,
	  ": permissions 0640 are too open (expected 0600)", -EPERM },
};

static void test_bad_files(void **state)
{
	struct tmp *t = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t key[PT_STORE_KEYLEN], *p = NULL;
		size_t n = 0;
		int created = 77, r;
		char err[512] = "", want[512];
		struct stat st1, st2;

		write_all(t->path, bad[i].content, bad[i].len, bad[i].mode);
		assert_int_equal(stat(t->path, &st1), 0);
		memset(key, 0xa5, sizeof(key));
		r = pt_seal_load_or_create(software(), t->dir, key, &created, err, sizeof(err));
		snprintf(want, sizeof(want), "%s%s", t->path, bad[i].msg);
		if (r != bad[i].r || strcmp(err, want) != 0)
			fail_msg("case %zu: r=%d\n  got:  %s\n  want: %s", i, r, err, want);
		assert_int_equal(created, 77);
		for (size_t k = 0; k < sizeof(key); k++)
			assert_int_equal(key[k], 0xa5);
		/* never overwritten */
		assert_int_equal(stat(t->path, &st2), 0);
		assert_int_equal(st1.st_ino, st2.st_ino);
		assert_int_equal(st1.st_mtim.tv_sec, st2.st_mtim.tv_sec);
		assert_int_equal(st1.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);
		assert_int_equal(st1.st_mode, st2.st_mode);
		assert_int_equal(pt_read_file(t->path, 4096, &p, &n), 0);
		assert_int_equal(n, bad[i].len);
		assert_memory_equal(p, bad[i].content, bad[i].len);
		free(p);
	}
}

static void test_other_errors(void **state)
{
	struct tmp *t = *state;
	uint8_t key[PT_STORE_KEYLEN];
	char err[512], want[512], missing[128];
	int r;

	/* too large */
	{
		size_t n = 70 * 1024;
		char *big = malloc(n);
		assert_non_null(big);
		memset(big, 'x', n);
		memcpy(big, HEADER, strlen(HEADER));
		write_all(t->path, big, n, 0600);
		free(big);
	}
	r = pt_seal_load_or_create(software(), t->dir, key, NULL, err, sizeof(err));
	assert_int_equal(r, -EFBIG);
	snprintf(want, sizeof(want), "%s: file too large (max 65536 bytes)", t->path);
	assert_string_equal(err, want);
	assert_int_equal(unlink(t->path), 0);

	/* not a regular file */
	assert_int_equal(symlink("/dev/null", t->path), 0);
	r = pt_seal_load_or_create(software(), t->dir, key, NULL, err, sizeof(err));
	assert_int_equal(r, -EBADMSG);
	snprintf(want, sizeof(want), "%s: not a regular file", t->path);
	assert_string_equal(err, want);
	assert_int_equal(unlink(t->path), 0);

	/* the state directory must exist: nothing is created elsewhere */
	snprintf(missing, sizeof(missing), "%s/missing", t->dir);
	r = pt_seal_load_or_create(software(), missing, key, NULL, err, sizeof(err));
	assert_int_equal(r, -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", missing);
	assert_string_equal(err, want);

	r = pt_seal_load_or_create(NULL, t->dir, key, NULL, err, sizeof(err));
	assert_int_equal(r, -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sealer_get),
		cmocka_unit_test(test_software_backend),
		cmocka_unit_test_setup_teardown(test_create_then_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
