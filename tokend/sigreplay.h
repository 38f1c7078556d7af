/* SPDX-License-Identifier: MIT */
/*
 * The replay cache of SSH-signed grant requests (grantreq.h): every nonce
 * tokend accepted, with its uid and the request's issued time, kept in
 * STATE_DIR/sshsig-nonces until the request could no longer be accepted
 * anyway (issued + PT_GRANTREQ_MAX_AGE + PT_SIGREPLAY_SKEW). A nonce is
 * written to the file, synced, before the grant it allows is made, so a
 * request replayed after a crash or a restart is refused too. Bounded: at
 * most PT_SIGREPLAY_PER_UID live nonces per uid (a further request is
 * refused until the oldest ages out) and PT_SIGREPLAY_MAX in all.
 *
 * Dropping a nonce raises a floor: a request issued at or before the
 * latest issued time dropped is refused (-ESTALE) even when the clock was
 * stepped back and finds it fresh again.
 *
 * The file: the line "pertok-sshsig-nonces 1", then optionally
 * "floor UNIX", then "UID ISSUED NONCE" lines; a file that does not parse is refused (the cache cannot be
 * trusted: no signed request is accepted until an admin looks).
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#define PT_SIGREPLAY_FILE "sshsig-nonces"
#define PT_SIGREPLAY_SKEW 60 /* s: requests issued this far ahead are taken */
#define PT_SIGREPLAY_PER_UID 64
#define PT_SIGREPLAY_MAX 65536

struct pt_sigreplay;

/* Loads dir/sshsig-nonces (none: empty). 0; -EBADMSG (malformed); -errno. */
int pt_sigreplay_open(const char *dir, struct pt_sigreplay **ret);
void pt_sigreplay_free(struct pt_sigreplay *s);

/* Takes nonce for uid: 0 when it is new (then it is on disk, synced);
 * -EALREADY when it was taken before; -ESTALE when issued is no later than
 * a nonce already dropped (it may have been this one); -EDQUOT when uid has
 * PT_SIGREPLAY_PER_UID live nonces (or the cache is full); -errno when the
 * file cannot be written (nothing taken). now drops what aged out. */
int pt_sigreplay_take(struct pt_sigreplay *s, uid_t uid, const char *nonce, uint64_t issued,
		      uint64_t now);
