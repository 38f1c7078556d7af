/* SPDX-License-Identifier: MIT */
/*
 * The configuration's other files, merged into tokend.conf's libconfig tree
 * before it is parsed (config.c), see man/tokend.conf.5, FILES:
 *
 * - drop-ins: DIR/ *.conf (DIR: the config path + ".d", so
 *   /etc/pertok/tokend.conf.d), read in byte order of their names after
 *   tokend.conf. In the groups tokend { }, seal { } and audit { } a drop-in's
 *   setting replaces tokend.conf's; two drop-ins setting the same one is an
 *   error naming both places. The lists actors, issue, redeem and types are
 *   appended to, in file order (names stay unique: config.c refuses a second
 *   definition with both places).
 * - token types: VENDOR/NAME.conf (/usr/share/pertok/types.d, shipped by
 *   packages) and ADMIN/NAME.conf (/etc/pertok/types.d): each file the
 *   settings of one type named NAME; a file in ADMIN replaces the vendor's
 *   file of the same name entirely, and an empty one or a symbolic link to
 *   /dev/null there removes the type (masks it). Appended to types ( ) in
 *   name order.
 *
 * Settings copied in keep their FILE and LINE (config_setting_source_file),
 * so every error of the parsers names the file it is in.
 */
#pragma once

#include <libconfig.h>
#include <stddef.h>

#define PT_CONF_DIR_MAX_FILES 256
#define PT_CONF_DIR_MAX_FILE_SIZE (256 * 1024)

#include "conf.h"

void pt_conf_files_free(struct pt_conf_files *f);
int pt_conf_files_add(struct pt_conf_files *f, const char *path, const char *what);

/* Reads one file of the configuration into lc (guarded as tokend.conf is,
 * confguard.h): a regular file of at most max bytes, no NUL byte, no
 * @include. Errors "FILE:LINE: message" or "FILE: message". */
int pt_conf_read_file(const char *path, size_t max, config_t *lc, char *err, size_t errlen);
/* The same from text (name: FILE in messages). */
int pt_conf_read_text(const char *text, const char *name, config_t *lc, char *err, size_t errlen);

/* Merges the drop-ins of dir (missing: none) into root, the tree of
 * tokend.conf, recording each file in files (whose strings the copied
 * settings point to: free files after root's config_t). */
int pt_conf_merge_dropins(config_setting_t *root, const char *dir, struct pt_conf_files *files,
			  char *err, size_t errlen);

/* Appends the types of vendor_dir and admin_dir (either may be NULL or
 * missing) to root's types ( ). */
int pt_conf_merge_types(config_setting_t *root, const char *vendor_dir, const char *admin_dir,
			struct pt_conf_files *files, char *err, size_t errlen);

/* "FILE:LINE" of a setting (FILE: its own file, else fname), for messages
 * that name a second place. */
const char *pt_conf_place(const char *fname, const config_setting_t *s, char *buf, size_t len);
