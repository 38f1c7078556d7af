/* SPDX-License-Identifier: MIT */
/* The configuration's drop-ins and types.d (confdir.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "conf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "confdir.h"
#include "confguard.h"
#include "fileio.h"
#include "util.h"

#define err_set(...)                                        \
	do {                                                \
		if (err && errlen)                          \
			snprintf(err, errlen, __VA_ARGS__); \
	} while (0)

void pt_conf_files_free(struct pt_conf_files *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		free(f->path[i]);
	free(f->path);
	free(f->what);
	free(f->dropin_dir);
	free(f->types_vendor_dir);
	free(f->types_admin_dir);
	*f = (struct pt_conf_files){ 0 };
}

int pt_conf_files_add(struct pt_conf_files *f, const char *path, const char *what)
{
	char **p;
	const char **w;
	char *s = strdup(path);

	if (!s)
		return -ENOMEM;
	p = realloc(f->path, (f->n + 1) * sizeof(*p));
	if (p)
		f->path = p;
	w = p ? realloc(f->what, (f->n + 1) * sizeof(*w)) : NULL;
	if (!w) {
		free(s);
		return -ENOMEM;
	}
	f->what = w;
	f->path[f->n] = s;
	f->what[f->n] = what;
	f->n++;
	return 0;
}

const char *pt_conf_place(const char *fname, const config_setting_t *s, char *buf, size_t len)
{
	const char *f = s ? config_setting_source_file(s) : NULL;

	snprintf(buf, len, "%s:%u", f ? f : fname, s ? config_setting_source_line(s) : 0);
	return buf;
}

/* Policy comes only from files and directories that no one but root (or
 * the user running tokend --check-config on their own draft) can change:
 * owned by root or the effective uid, not writable by group or others
 * (sshd's StrictModes). */
static int trusted(const char *path, const struct stat *st, const char *kind, char *err,
		   size_t errlen)
{
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		err_set("%s: %s owned by uid %u, not root: refused (policy only root may write)",
			path, kind, (unsigned)st->st_uid);
		return -EPERM;
	}
	if (st->st_mode & 022) {
		err_set("%s: %s writable by group or others (mode %04o): refused", path, kind,
			(unsigned)(st->st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* A file that masks: a symbolic link to /dev/null, or empty. */
static bool masked(const char *path, const struct stat *st)
{
	char t[16];
	ssize_t n;

	if (S_ISREG(st->st_mode) && st->st_size == 0)
		return true;
	n = readlink(path, t, sizeof(t) - 1);
	if (n < 0)
		return false;
	t[n] = '\0';
	return strcmp(t, "/dev/null") == 0;
}

int pt_conf_read_file(const char *path, size_t max, config_t *lc, char *err, size_t errlen)
{
	uint8_t *text = NULL;
	struct stat st;
	size_t len = 0;
	int fd, r;

	/* O_NONBLOCK: a FIFO put there cannot hang tokend */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		err_set("%s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		err_set("%s: not a regular file", path);
		return -EINVAL;
	}
	if ((r = trusted(path, &st, "file", err, errlen)) < 0) {
		close(fd);
		return r;
	}
	r = pt_read_fd(fd, max, &text, &len);
	close(fd);
	if (r < 0) {
		if (r == -EFBIG)
			err_set("%s: file too large (max %zu bytes)", path, max);
		else
			err_set("%s: %s", path, strerror(-r));
		return r;
	}
	if (memchr(text, '\0', len)) {
		err_set("%s: contains a NUL byte", path);
		free(text);
		return -EINVAL;
	}
	r = pt_conf_read_text((const char *)text, path, lc, err, errlen);
	free(text);
	return r;
}

int pt_conf_read_text(const char *text, const char *name, config_t *lc, char *err, size_t errlen)
{
	char *defused = NULL;
	int r;

	r = pt_conf_guard(text, name, &defused, err, errlen);
	if (r >= 0 && config_read_string(lc, defused ? defused : text) != CONFIG_TRUE) {
		const char *t = config_error_text(lc);

		err_set("%s:%d: %s", name, config_error_line(lc), t ? t : "syntax error");
		r = -EINVAL;
	}
	free(defused);
	return r;
}

/* A deep copy of s as the last child of parent, keeping its line and
 * giving it file. */
static int copy_setting(config_setting_t *parent, const config_setting_t *s, const char *file)
{
	int type = config_setting_type(s);
	int pt = config_setting_type(parent);
	config_setting_t *c;
	int r = 0;

	c = config_setting_add(parent, pt == CONFIG_TYPE_GROUP ? config_setting_name(s) : NULL,
			       type);
	if (!c)
		return -EINVAL; /* a list holding two kinds, or a name taken: the caller checked */
	c->line = config_setting_source_line(s);
	c->file = file;
	switch (type) {
	case CONFIG_TYPE_INT:
		config_setting_set_int(c, config_setting_get_int(s));
		break;
	case CONFIG_TYPE_INT64:
		config_setting_set_int64(c, config_setting_get_int64(s));
		break;
	case CONFIG_TYPE_FLOAT:
		config_setting_set_float(c, config_setting_get_float(s));
		break;
	case CONFIG_TYPE_BOOL:
		config_setting_set_bool(c, config_setting_get_bool(s));
		break;
	case CONFIG_TYPE_STRING:
		if (config_setting_set_string(c, config_setting_get_string(s)) != CONFIG_TRUE)
			r = -ENOMEM;
		break;
	case CONFIG_TYPE_GROUP:
	case CONFIG_TYPE_LIST:
	case CONFIG_TYPE_ARRAY:
		for (int i = 0; r == 0 && i < config_setting_length(s); i++)
			r = copy_setting(c, config_setting_get_elem(s, (unsigned)i), file);
		break;
	default:
		break;
	}
	return r;
}

static int cmp_names(const void *a, const void *b);

/* The names in dir ending in ".conf" (not hidden), sorted bytewise. A
 * missing dir: none. */
static int list_dir(const char *dir, char ***ret, size_t *ret_n, char *err, size_t errlen)
{
	char **v = NULL;
	size_t n = 0;
	struct dirent *e;
	DIR *d;
	int r = 0;

	*ret = NULL;
	*ret_n = 0;
	if (!dir)
		return 0;
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		err_set("%s: %s", dir, strerror(-r));
		return r;
	}
	{
		struct stat st;

		if (fstat(dirfd(d), &st) < 0) {
			r = -errno;
			err_set("%s: %s", dir, strerror(-r));
		} else
			r = trusted(dir, &st, "directory", err, errlen);
		if (r < 0) {
			closedir(d);
			return r;
		}
	}
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		char **nv;

		if (e->d_name[0] == '.' || l <= 5 || strcmp(e->d_name + l - 5, ".conf") != 0)
			continue;
		if (n == PT_CONF_DIR_MAX_FILES) {
			err_set("%s: more than %d files", dir, PT_CONF_DIR_MAX_FILES);
			r = -E2BIG;
			break;
		}
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv || !(nv[n] = strdup(e->d_name))) {
			v = nv ? nv : v;
			r = -ENOMEM;
			break;
		}
		v = nv;
		n++;
	}
	closedir(d);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		return r;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_names);
	*ret = v;
	*ret_n = n;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static bool is_group_section(const char *name)
{
	return strcmp(name, "tokend") == 0 || strcmp(name, "seal") == 0 ||
	       strcmp(name, "audit") == 0 || strcmp(name, "usage") == 0;
}

static bool is_list_section(const char *name)
{
	return strcmp(name, "actors") == 0 || strcmp(name, "issue") == 0 ||
	       strcmp(name, "redeem") == 0 || strcmp(name, "types") == 0;
}

/* The section name of root, made with the type and place of s if missing. */
static config_setting_t *section(config_setting_t *root, const config_setting_t *s,
				 const char *file)
{
	const char *name = config_setting_name(s);
	config_setting_t *t = config_setting_get_member(root, name);

	if (!t) {
		t = config_setting_add(root, name, config_setting_type(s));
		if (t) {
			t->line = config_setting_source_line(s);
			t->file = file;
		}
	}
	return t;
}

/* One drop-in's tree into root. */
static int merge_one(config_setting_t *root, const config_setting_t *droot, const char *file,
		     char *err, size_t errlen)
{
	char a[512];

	for (int i = 0; i < config_setting_length(droot); i++) {
		const config_setting_t *s = config_setting_get_elem(droot, (unsigned)i);
		const char *name = config_setting_name(s);
		int want = is_group_section(name) ? CONFIG_TYPE_GROUP :
			   is_list_section(name)  ? CONFIG_TYPE_LIST :
						    -1;
		config_setting_t *t;
		int r;

		if (want < 0) {
			err_set("%s:%u: unknown top-level setting \"%s\"", file,
				config_setting_source_line(s), name);
			return -EINVAL;
		}
		if (config_setting_type(s) != want) {
			err_set("%s:%u: %s must be %s in a drop-in too", file,
				config_setting_source_line(s), name,
				want == CONFIG_TYPE_GROUP ? "a group { ... }" : "a list ( ... )");
			return -EINVAL;
		}
		t = section(root, s, file);
		if (!t)
			return -ENOMEM;
		if (config_setting_type(t) != want) {
			err_set("%s:%u: %s is %s here but not at %s", file,
				config_setting_source_line(s), name,
				want == CONFIG_TYPE_GROUP ? "a group" : "a list",
				pt_conf_place("tokend.conf", t, a, sizeof(a)));
			return -EINVAL;
		}
		for (int j = 0; j < config_setting_length(s); j++) {
			const config_setting_t *m = config_setting_get_elem(s, (unsigned)j);
			config_setting_t *old =
				want == CONFIG_TYPE_GROUP ?
					config_setting_get_member(t, config_setting_name(m)) :
					NULL;

			if (old && config_setting_source_file(old)) {
				/* set by an earlier drop-in: which one wins would
				 * depend on file names only */
				err_set("%s:%u: %s.%s is also set at %s; set it in one drop-in",
					file, config_setting_source_line(m), name,
					config_setting_name(m),
					pt_conf_place("tokend.conf", old, a, sizeof(a)));
				return -EINVAL;
			}
			if (old && config_setting_remove(t, config_setting_name(m)) != CONFIG_TRUE)
				return -ENOMEM;
			if (want == CONFIG_TYPE_LIST &&
			    config_setting_type(m) != CONFIG_TYPE_GROUP) {
				err_set("%s:%u: %s[%d] must be a group { ... }", file,
					config_setting_source_line(m), name, j);
				return -EINVAL;
			}
			r = copy_setting(t, m, file);
			if (r == -EINVAL)
				err_set("%s:%u: %s: cannot merge this setting", file,
					config_setting_source_line(m), name);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int pt_conf_merge_dropins(config_setting_t *root, const char *dir, struct pt_conf_files *files,
			  char *err, size_t errlen)
{
	char **names = NULL, *path = NULL;
	size_t n = 0;
	int r;

	r = list_dir(dir, &names, &n, err, errlen);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct stat st;
		config_t lc;

		free(path);
		if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
			path = NULL;
			r = -ENOMEM;
			break;
		}
		if (lstat(path, &st) == 0 && masked(path, &st)) {
			r = pt_conf_files_add(files, path, "masked drop-in");
			continue;
		}
		if ((r = pt_conf_files_add(files, path, "drop-in")) < 0)
			break;
		config_init(&lc);
		r = pt_conf_read_file(path, PT_CONF_DIR_MAX_FILE_SIZE, &lc, err, errlen);
		if (r >= 0)
			r = merge_one(root, config_root_setting(&lc), files->path[files->n - 1],
				      err, errlen);
		config_destroy(&lc);
	}
	free(path);
	free_names(names, n);
	return r;
}

/* One types.d file: its settings become an element of types ( ), named
 * after the file. */
static int merge_type(config_setting_t *types, const char *path, const char *name, const char *file,
		      char *err, size_t errlen)
{
	config_setting_t *g, *nm;
	const config_setting_t *droot, *own;
	config_t lc;
	int r;

	config_init(&lc);
	r = pt_conf_read_file(path, PT_CONF_DIR_MAX_FILE_SIZE, &lc, err, errlen);
	if (r < 0)
		goto out;
	droot = config_root_setting(&lc);
	own = config_setting_get_member(droot, "name");
	if (own && (config_setting_type(own) != CONFIG_TYPE_STRING ||
		    strcmp(config_setting_get_string(own), name) != 0)) {
		err_set("%s:%u: name must be \"%s\", the file's name, or left out", path,
			config_setting_source_line(own), name);
		r = -EINVAL;
		goto out;
	}
	g = config_setting_add(types, NULL, CONFIG_TYPE_GROUP);
	if (!g) {
		r = -ENOMEM;
		goto out;
	}
	g->line = 1;
	g->file = file;
	if (!own) {
		nm = config_setting_add(g, "name", CONFIG_TYPE_STRING);
		if (!nm || config_setting_set_string(nm, name) != CONFIG_TRUE) {
			r = -ENOMEM;
			goto out;
		}
		nm->line = 1;
		nm->file = file;
	}
	for (int i = 0; r >= 0 && i < config_setting_length(droot); i++)
		r = copy_setting(g, config_setting_get_elem(droot, (unsigned)i), file);
	if (r == -EINVAL)
		err_set("%s: cannot merge this type", path);
out:
	config_destroy(&lc);
	return r;
}

/* The type of NAME.conf, from the admin's directory or the vendor's. */
static int one_type(config_setting_t **types, config_setting_t *root, const char *vendor_dir,
		    const char *admin_dir, const char *fname, struct pt_conf_files *files,
		    char *err, size_t errlen)
{
	char name[256], *path = NULL;
	const char *dirs[2] = { admin_dir, vendor_dir };
	size_t l = strlen(fname) - 5;
	int r = 0;

	if (l >= sizeof(name)) {
		err_set("%s/%s: name too long", admin_dir ? admin_dir : vendor_dir, fname);
		return -EINVAL;
	}
	memcpy(name, fname, l);
	name[l] = '\0';
	for (int k = 0; k < 2; k++) {
		struct stat st;

		if (!dirs[k])
			continue;
		free(path);
		if (asprintf(&path, "%s/%s", dirs[k], fname) < 0)
			return -ENOMEM;
		if (lstat(path, &st) < 0) {
			if (errno == ENOENT)
				continue;
			r = -errno;
			err_set("%s: %s", path, strerror(-r));
			break;
		}
		if (!pt_name_valid(name) || strlen(name) > 64) {
			err_set("%s: \"%s\" is not a valid type name", path, name);
			r = -EINVAL;
			break;
		}
		if (strcmp(name, "live") == 0 || strcmp(name, "persistable") == 0) {
			err_set("%s: %s is a built-in type: set its ttl in tokend.conf", path,
				name);
			r = -EINVAL;
			break;
		}
		if (masked(path, &st)) {
			r = pt_conf_files_add(files, path, "masked type");
			break;
		}
		if ((r = pt_conf_files_add(files, path, "type")) < 0)
			break;
		if (!*types) {
			*types = config_setting_add(root, "types", CONFIG_TYPE_LIST);
			if (!*types) {
				r = -ENOMEM;
				break;
			}
			(*types)->line = 1;
			(*types)->file = files->path[files->n - 1];
		}
		r = merge_type(*types, path, name, files->path[files->n - 1], err, errlen);
		break; /* the admin's file wins entirely */
	}
	free(path);
	return r;
}

int pt_conf_merge_types(config_setting_t *root, const char *vendor_dir, const char *admin_dir,
			struct pt_conf_files *files, char *err, size_t errlen)
{
	char **v = NULL, **a = NULL;
	size_t nv = 0, na = 0, i = 0, j = 0;
	config_setting_t *types = config_setting_get_member(root, "types");
	int r;

	if (types && config_setting_type(types) != CONFIG_TYPE_LIST) {
		err_set("%s: types must be a list ( ... )",
			pt_conf_place("tokend.conf", types, (char[512]){ 0 }, 512));
		return -EINVAL;
	}
	r = list_dir(vendor_dir, &v, &nv, err, errlen);
	if (r >= 0)
		r = list_dir(admin_dir, &a, &na, err, errlen);
	/* both sorted: walk the union of the names once */
	while (r >= 0 && (i < nv || j < na)) {
		int c = i == nv ? 1 : j == na ? -1 : strcmp(v[i], a[j]);
		const char *fname = c <= 0 ? v[i] : a[j];

		r = one_type(&types, root, vendor_dir, admin_dir, fname, files, err, errlen);
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	free_names(v, nv);
	free_names(a, na);
	return r;
}
