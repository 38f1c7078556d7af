/* SPDX-License-Identifier: MIT */
/*
 * File I/O shared by tokend's state files: durable atomic writes
 * (write-to-temp + fsync + rename + fsync(dir): a crash never leaves a
 * half-written file, an acknowledged write survives kill -9 and power loss),
 * the clean-up of the temporaries a crash leaves, and bounded reads.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Durable atomic file write: temp in the same dir, fsync, rename, fsync dir. */
int pt_atomic_write(const char *path, const void *p, size_t n, mode_t mode);
/* The same, but a failed directory fsync after the rename (the write took
 * effect) returns that errno as a positive number instead of -errno. */
int pt_atomic_replace(const char *path, const void *p, size_t n, mode_t mode);
/* The same in the directory dfd, for a plain file name; the directory is
 * synced only when sync_dir. 0; a positive errno when the file was replaced
 * but the directory could not be synced; or -errno when nothing changed. */
int pt_atomic_write_at(int dfd, const char *name, const void *p, size_t n, mode_t mode,
		       bool sync_dir);
/* Is name a temporary file of an atomic write (".NAME.<...>.tmp")? */
bool pt_is_temp_name(const char *name);
/* Removes the temporary files of interrupted atomic writes (".NAME.<hex>.tmp")
 * in dir, except those whose name starts with skip_prefix (may be NULL).
 * *ret_removed (may be NULL): how many, set also when a later removal
 * failed (for the log). 0 or -errno. */
int pt_remove_stale_temps(const char *dir, const char *skip_prefix, size_t *ret_removed);
/* Bounded read of a whole file (max bytes), -EFBIG if larger. */
int pt_read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_len);
/* A statistics file of tokend's (history.json, usage.json): read (at most
 * max bytes) and handed to parse(text, len, u). 0 when parsed or missing;
 * *ret_bad (may be NULL) set when it exists but cannot be read or parsed
 * (the caller starts afresh); -ENOMEM when parse says so. */
int pt_state_read(const char *path, size_t max, int (*parse)(const char *text, size_t len, void *u),
		  void *u, bool *ret_bad);
/* Writes json (NUL-terminated; freed here) to path atomically, mode 0600:
 * as pt_atomic_replace. */
int pt_state_write(const char *path, char *json);
/* The same from an open file descriptor (read to its end). */
int pt_read_fd(int fd, size_t max, uint8_t **ret, size_t *ret_len);

/* Closes every descriptor from 3 up but keep[0..n) (those below 3 are left
 * alone): a forked process that keeps only what it was given. */
void pt_close_others(const int *keep, size_t n);
