/* SPDX-License-Identifier: MIT */
/*
 * The built pam_pertok.so: loads with RTLD_NOW (no undefined symbols),
 * exports the six pam_sm_* entry points and nothing else (read from its
 * .dynsym), and hides internal functions.
 */
#include "config.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <security/pam_modules.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef PT_ABS_TOP_BUILDDIR
#define PT_ABS_TOP_BUILDDIR "."
#endif

static const char *const entry_points[] = {
	"pam_sm_authenticate", "pam_sm_setcred",       "pam_sm_acct_mgmt",
	"pam_sm_open_session", "pam_sm_close_session", "pam_sm_chauthtok",
};

/* Internal functions of the module and of the libraries linked into it. */
static const char *const internal[] = {
	"pp_args_parse",     "pp_mode_name",   "pk_install_live",   "pk_join_fresh_session",
	"pt_client_connect", "pt_client_call", "pt_default_socket", "pt_name_valid",
	"pt_req_encode",     "ptbuf_new",      "pt_wipe",
};

static char module_path[PATH_MAX];

static int find_module(void **state)
{
	const char *top = getenv("top_builddir");

	if (!top || !*top)
		top = PT_ABS_TOP_BUILDDIR;
	snprintf(module_path, sizeof(module_path), "%s/pam_pertok/.libs/pam_pertok.so", top);
	if (access(module_path, R_OK) < 0) {
		fprintf(stderr, "# %s: %s\n", module_path, strerror(errno));
		return -1;
	}
	return 0;
}

static void *open_module(void)
{
	void *h;

	dlerror();
	h = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		fail_msg("dlopen(%s, RTLD_NOW): %s", module_path, dlerror());
	return h;
}

static void test_dlopen_now(void **state)
{
	void *h = open_module();

	assert_int_equal(dlclose(h), 0);
}

static void test_entry_points(void **state)
{
	void *h = open_module();

	for (size_t i = 0; i < sizeof(entry_points) / sizeof(entry_points[0]); i++)
		if (!dlsym(h, entry_points[i]))
			fail_msg("%s not exported", entry_points[i]);
	dlclose(h);
}

static void test_internal_hidden(void **state)
{
	void *h = open_module();

	for (size_t i = 0; i < sizeof(internal) / sizeof(internal[0]); i++)
		if (dlsym(h, internal[i]))
			fail_msg("internal symbol %s is exported", internal[i]);
	dlclose(h);
}

static void test_authenticate_ignores(void **state)
{
	int (*fn)(pam_handle_t *, int, int, const char **);
	void *h = open_module();

	static const char *issue[] = { "issue" }, *redeem[] = { "redeem" };

	/* The entry point that needs no handle outside recovery mode: issue and
	 * redeem do not authenticate. */
	*(void **)&fn = dlsym(h, "pam_sm_authenticate");
	assert_non_null(fn);
	assert_int_equal(fn(NULL, 0, 1, issue), PAM_IGNORE);
	assert_int_equal(fn(NULL, 0, 1, redeem), PAM_IGNORE);
	dlclose(h);
}

/* Reads the module file and lists its defined global/weak dynamic symbols. */
static void test_dynsym_exactly_entry_points(void **state)
{
	const size_t n_entry = sizeof(entry_points) / sizeof(entry_points[0]);
	bool seen[sizeof(entry_points) / sizeof(entry_points[0])] = { false };
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	unsigned char *img;
	struct stat st;
	size_t n_found = 0;
	int fd;

	fd = open(module_path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(st.st_size > (off_t)sizeof(Elf64_Ehdr));
	img = malloc((size_t)st.st_size);
	assert_non_null(img);
	assert_int_equal(pread(fd, img, (size_t)st.st_size, 0), st.st_size);
	close(fd);

	eh = (const Elf64_Ehdr *)img;
	assert_memory_equal(eh->e_ident, ELFMAG, SELFMAG);
	assert_int_equal(eh->e_ident[EI_CLASS], ELFCLASS64);
	assert_int_equal(eh->e_shentsize, sizeof(Elf64_Shdr));
	assert_true(eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) <=
		    (uint64_t)st.st_size);
	sh = (const Elf64_Shdr *)(img + eh->e_shoff);

	for (size_t s = 0; s < eh->e_shnum; s++) {
		const Elf64_Shdr *strsh;
		const char *strtab;

		if (sh[s].sh_type != SHT_DYNSYM)
			continue;
		assert_true(sh[s].sh_link < eh->e_shnum);
		assert_int_equal(sh[s].sh_entsize, sizeof(Elf64_Sym));
		strsh = &sh[sh[s].sh_link];
		assert_true(sh[s].sh_offset + sh[s].sh_size <= (uint64_t)st.st_size);
		assert_true(strsh->sh_offset + strsh->sh_size <= (uint64_t)st.st_size);
		strtab = (const char *)img + strsh->sh_offset;

		for (size_t k = 0; k < sh[s].sh_size / sizeof(Elf64_Sym); k++) {
			const Elf64_Sym *sym = (const Elf64_Sym *)(img + sh[s].sh_offset) + k;
			unsigned bind = ELF64_ST_BIND(sym->st_info);
			const char *name;
			bool expected = false;

			if (sym->st_shndx == SHN_UNDEF || sym->st_name == 0)
				continue;
			if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE)
				continue;
			assert_true(sym->st_name < strsh->sh_size);
			name = strtab + sym->st_name;
			for (size_t e = 0; e < n_entry; e++)
				if (strcmp(name, entry_points[e]) == 0) {
					expected = true;
					seen[e] = true;
				}
			if (!expected)
				fail_msg("unexpected exported symbol: %s", name);
			n_found++;
		}
	}
	free(img);
	for (size_t e = 0; e < n_entry; e++)
		if (!seen[e])
			fail_msg("%s missing from .dynsym", entry_points[e]);
	assert_int_equal(n_found, n_entry);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dlopen_now),
		cmocka_unit_test(test_entry_points),
		cmocka_unit_test(test_internal_hidden),
		cmocka_unit_test(test_authenticate_ignores),
		cmocka_unit_test(test_dynsym_exactly_entry_points),
	};

	return cmocka_run_group_tests(tests, find_module, NULL);
}
