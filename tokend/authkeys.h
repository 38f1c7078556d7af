/* SPDX-License-Identifier: MIT */
/*
 * A user's ~/.ssh/authorized_keys, for SSH-signed consent (sshsig.h): the
 * key that signed a grant request must be one of the origin user's own
 * authorized keys.
 *
 * Reading (pt_authkeys_read, as sshd's StrictModes): the home directory and
 * ~/.ssh owned by the user or root and not writable by group or others;
 * ~/.ssh and authorized_keys opened with O_NOFOLLOW (no symlink);
 * authorized_keys a regular file owned by the user or root, not writable by
 * group or others, at most PT_AUTHKEYS_MAX bytes. Anything else: refused.
 *
 * The rule for options (sshd(8), AUTHORIZED_KEYS FILE FORMAT): a key may
 * consent when its line has no options, or only options that switch
 * features of an SSH session (no-pty, no-port-forwarding, no-agent-
 * forwarding, no-X11-forwarding, no-user-rc, their positive forms,
 * environment=, permitopen=, permitlisten=, tunnel=, no-touch-required).
 * A key whose line restricts what it may be used for or from where
 * (restrict, command=, from=, principals=, expiry-time=, verify-required)
 * or that is a certificate authority (cert-authority) may not: it was not
 * meant to speak for the user in general, and tokend cannot check those
 * restrictions for a signature made elsewhere. An option tokend does not
 * know refuses the key too (fail closed). Malformed lines are skipped, as
 * sshd skips them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sshsig.h"

#define PT_AUTHKEYS_MAX (1024 * 1024) /* bytes of authorized_keys */
#define PT_AUTHKEYS_LINE_MAX 16384    /* bytes of one line */

/* One line, parsed. */
struct pt_authkey {
	char type[32]; /* the key type named on the line */
	uint8_t *blob; /* the decoded key blob */
	size_t blob_len;
	bool may_consent;    /* no option refuses it (see above) */
	char refused_by[48]; /* the option that refuses it, "" when none */
};

/* Parses one line (without its newline). 1: a key (*ret filled; free with
 * pt_authkey_clear); 0: a blank or comment line; -EBADMSG: malformed (err
 * says why); -ENOMEM. */
int pt_authkeys_line(const char *line, size_t len, struct pt_authkey *ret, char *err,
		     size_t errlen);
void pt_authkey_clear(struct pt_authkey *k);

/* Is the key blob one of text's keys that may consent? 0: yes; -ENOENT:
 * not in text; -EPERM: in text, but only on lines whose options refuse it
 * (err names the option); -ENOMEM. */
int pt_authkeys_match(const char *text, size_t len, const uint8_t *blob, size_t blob_len, char *err,
		      size_t errlen);

/* Reads home/.ssh/authorized_keys of the user uid with the checks above:
 * the text (NUL-terminated, not counted in *ret_len; caller frees). 0;
 * -ENOENT (no file); -EPERM (ownership, modes, a symlink, not a regular
 * file: err says which); -EFBIG; -errno. */
int pt_authkeys_read(const char *home, uid_t uid, char **ret, size_t *ret_len, char *err,
		     size_t errlen);
