/* SPDX-License-Identifier: MIT */
/* authorized_keys for SSH-signed consent, see authkeys.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "authkeys.h"
#include "b64.h"
#include "fileio.h"
#include "util.h"

/* Key types sshd knows: a line's first word that is one of them starts the
 * key (no options); only some of them can consent (sshsig.h). */
static bool is_key_type(const char *w, size_t n)
{
	static const char *const types[] = {
		"ssh-ed25519",
		"ecdsa-sha2-nistp256",
		"ecdsa-sha2-nistp384",
		"ecdsa-sha2-nistp521",
		"ssh-rsa",
		"ssh-dss",
		"sk-ssh-ed25519@openssh.com",
		"sk-ecdsa-sha2-nistp256@openssh.com",
		"ssh-ed25519-cert-v01@openssh.com",
		"ssh-rsa-cert-v01@openssh.com",
		"ecdsa-sha2-nistp256-cert-v01@openssh.com",
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (n == strlen(types[i]) && memcmp(w, types[i], n) == 0)
			return true;
	return false;
}

/* The options' verdict (authkeys.h): NULL when the key may consent, else
 * the option that refuses it. */
static const char *option_refuses(const char *name, size_t n, bool has_value)
{
	static const char *const session_flags[] = {
		"no-agent-forwarding",
		"no-port-forwarding",
		"no-pty",
		"no-user-rc",
		"no-X11-forwarding",
		"agent-forwarding",
		"port-forwarding",
		"pty",
		"user-rc",
		"X11-forwarding",
		"no-touch-required",
	};
	static const char *const session_values[] = { "environment", "permitopen", "permitlisten",
						      "tunnel" };
	static const char *const restricting[] = { "restrict",	     "cert-authority",
						   "command",	     "from",
						   "principals",     "expiry-time",
						   "verify-required" };

	for (size_t i = 0; i < sizeof(session_flags) / sizeof(session_flags[0]); i++)
		if (!has_value && n == strlen(session_flags[i]) &&
		    strncasecmp(name, session_flags[i], n) == 0)
			return NULL;
	for (size_t i = 0; i < sizeof(session_values) / sizeof(session_values[0]); i++)
		if (has_value && n == strlen(session_values[i]) &&
		    strncasecmp(name, session_values[i], n) == 0)
			return NULL;
	for (size_t i = 0; i < sizeof(restricting) / sizeof(restricting[0]); i++)
		if (n == strlen(restricting[i]) && strncasecmp(name, restricting[i], n) == 0)
			return restricting[i];
	return "an unknown option";
}

/* Walks the options at p[0..n) (up to the first blank outside quotes):
 * *ret_end the index after them; refused_by the first refusing option. */
static int parse_options(const char *p, size_t n, size_t *ret_end, char *refused_by,
			 size_t refused_len, char *err, size_t errlen)
{
	size_t i = 0;

	refused_by[0] = '\0';
	for (;;) {
		size_t start = i;
		bool has_value = false;
		const char *why;

		while (i < n && p[i] != '=' && p[i] != ',' && p[i] != ' ' && p[i] != '\t')
			i++;
		if (i == start)
			return pt_errf(err, errlen, -EBADMSG, "empty option at byte %zu", start);
		if (i < n && p[i] == '=') {
			size_t name_end = i;

			has_value = true;
			if (++i >= n || p[i] != '"')
				return pt_errf(err, errlen, -EBADMSG,
					       "option value at byte %zu is not quoted", i);
			for (i++; i < n && p[i] != '"'; i++)
				if (p[i] == '\\' && i + 1 < n && p[i + 1] == '"')
					i++;
			if (i >= n)
				return pt_errf(err, errlen, -EBADMSG,
					       "unterminated quoted option value");
			i++;
			why = option_refuses(p + start, name_end - start, has_value);
		} else
			why = option_refuses(p + start, i - start, has_value);
		if (why && !refused_by[0])
			snprintf(refused_by, refused_len, "%s", why);
		if (i < n && p[i] == ',') {
			i++;
			continue;
		}
		if (i >= n || (p[i] != ' ' && p[i] != '\t'))
			return pt_errf(err, errlen, -EBADMSG, "options not followed by a key");
		*ret_end = i;
		return 0;
	}
}

void pt_authkey_clear(struct pt_authkey *k)
{
	if (!k)
		return;
	free(k->blob);
	memset(k, 0, sizeof(*k));
}

static size_t skip_blanks(const char *p, size_t i, size_t n)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i;
}

static size_t word_end(const char *p, size_t i, size_t n)
{
	while (i < n && p[i] != ' ' && p[i] != '\t')
		i++;
	return i;
}

int pt_authkeys_line(const char *line, size_t len, struct pt_authkey *ret, char *err, size_t errlen)
{
	struct pt_authkey k = { 0 };
	size_t i, e, opt_end = 0;
	enum pt_sshkey_type t;
	char sub[160];
	int r;

	if (!line || !ret)
		return -EINVAL;
	if (len > PT_AUTHKEYS_LINE_MAX)
		return pt_errf(err, errlen, -EBADMSG, "line of %zu bytes (at most %d)", len,
			       PT_AUTHKEYS_LINE_MAX);
	if (memchr(line, '\0', len) || memchr(line, '\n', len))
		return pt_errf(err, errlen, -EBADMSG, "line holds a NUL or newline byte");
	if (len > 0 && line[len - 1] == '\r')
		len--;
	i = skip_blanks(line, 0, len);
	if (i == len || line[i] == '#')
		return 0;
	e = word_end(line, i, len);
	if (!is_key_type(line + i, e - i)) {
		r = parse_options(line + i, len - i, &opt_end, k.refused_by, sizeof(k.refused_by),
				  err, errlen);
		if (r < 0)
			return r;
		i = skip_blanks(line, i + opt_end, len);
		e = word_end(line, i, len);
		if (!is_key_type(line + i, e - i))
			return pt_errf(err, errlen, -EBADMSG,
				       "no known key type after the options");
	}
	if (e - i >= sizeof(k.type))
		return pt_errf(err, errlen, -EBADMSG, "key type too long");
	memcpy(k.type, line + i, e - i);
	i = skip_blanks(line, e, len);
	e = word_end(line, i, len);
	r = pt_b64_decode(line + i, e - i, &k.blob, &k.blob_len);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return pt_errf(err, errlen, -EBADMSG, "%s key: malformed base64", k.type);
	/* the blob names its type too: the two must agree, for the types
	 * that can consent (others are kept, never matched) */
	if (strcmp(k.type, "ssh-ed25519") == 0 || strcmp(k.type, "ecdsa-sha2-nistp256") == 0 ||
	    strcmp(k.type, "ssh-rsa") == 0) {
		r = pt_sshkey_check(k.blob, k.blob_len, &t, sub, sizeof(sub));
		if (r == 0 && strcmp(pt_sshkey_type_name(t), k.type) != 0)
			r = pt_errf(sub, sizeof(sub), -EBADMSG, "the blob is a %s key",
				    pt_sshkey_type_name(t));
		if (r < 0) {
			pt_authkey_clear(&k);
			return r == -ENOMEM ? r : pt_errf(err, errlen, -EBADMSG, "%s", sub);
		}
	}
	k.may_consent = k.refused_by[0] == '\0';
	*ret = k;
	return 1;
}

int pt_authkeys_match(const char *text, size_t len, const uint8_t *blob, size_t blob_len, char *err,
		      size_t errlen)
{
	size_t i = 0;
	int found = -ENOENT;

	if (!text || !blob)
		return -EINVAL;
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
		struct pt_authkey k;
		int r = pt_authkeys_line(text + i, n, &k, NULL, 0);

		i += n + 1;
		if (r == -ENOMEM)
			return r;
		if (r <= 0)
			continue; /* blank, comment or malformed: skipped, as sshd does */
		if (k.blob_len == blob_len && memcmp(k.blob, blob, blob_len) == 0) {
			if (k.may_consent) {
				pt_authkey_clear(&k);
				return 0;
			}
			found = pt_errf(
				err, errlen, -EPERM,
				"the key is in authorized_keys with %s, which may not consent",
				k.refused_by);
		}
		pt_authkey_clear(&k);
	}
	return found;
}

/* StrictModes: owned by the user or root, not writable by group/others. */
static int check_owner(const struct stat *st, uid_t uid, const char *what, char *err, size_t errlen)
{
	if (st->st_uid != uid && st->st_uid != 0)
		return pt_errf(err, errlen, -EPERM, "%s is owned by uid %u, not the user or root",
			       what, (unsigned)st->st_uid);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return pt_errf(err, errlen, -EPERM, "%s is writable by group or others (mode %04o)",
			       what, (unsigned)(st->st_mode & 07777));
	return 0;
}

/* CAP_SETUID raised in the effective set (when permitted), the state it
 * had saved in ret_saved (ret_ok false: capget failed, nothing changed).
 * tokend keeps it permitted only for this read (main.c); a process without
 * it permitted reads as it can (setfsuid then fails and changes nothing). */
static void cap_setuid_raise(struct __user_cap_data_struct saved[2], bool *ret_ok)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	const unsigned cap = CAP_SETUID;

	*ret_ok = false;
	if (syscall(SYS_capget, &hdr, saved) < 0)
		return;
	*ret_ok = true;
	memcpy(data, saved, sizeof(data));
	if (!(data[cap / 32].permitted & (1u << (cap % 32))))
		return;
	data[cap / 32].effective |= 1u << (cap % 32);
	(void)syscall(SYS_capset, &hdr, data);
}

/* The effective set exactly as saved: setfsuid back to 0 raised every file
 * system capability that is permitted (CAP_DAC_OVERRIDE, CAP_CHOWN,
 * CAP_FOWNER, which act-as keeps permitted) into the effective set,
 * besides CAP_SETUID; all of them go. */
static void cap_restore(struct __user_cap_data_struct saved[2], bool ok)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };

	if (ok)
		(void)syscall(SYS_capset, &hdr, saved);
}

static int read_keys(const char *home, uid_t uid, char **ret, size_t *ret_len, char *err,
		     size_t errlen);

int pt_authkeys_read(const char *home, uid_t uid, char **ret, size_t *ret_len, char *err,
		     size_t errlen)
{
	struct __user_cap_data_struct saved[2];
	bool saved_ok;
	uid_t old;
	int r;

	/* the user's own file system uid: tokend reads what the user could,
	 * with no capability over files (the checks below are StrictModes') */
	cap_setuid_raise(saved, &saved_ok);
	old = (uid_t)setfsuid(uid);
	r = read_keys(home, uid, ret, ret_len, err, errlen);
	setfsuid(old);
	cap_restore(saved, saved_ok);
	return r;
}

static int read_keys(const char *home, uid_t uid, char **ret, size_t *ret_len, char *err,
		     size_t errlen)
{
	int hfd = -1, sfd = -1, fd = -1, r = 0;
	struct stat st;
	uint8_t *buf = NULL;
	size_t n = 0;

	if (!home || home[0] != '/' || !ret || !ret_len)
		return -EINVAL;
	hfd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (hfd < 0) {
		r = pt_errf(err, errlen, -errno, "cannot open the home directory %s: %s", home,
			    strerror(errno));
		goto out;
	}
	if (fstat(hfd, &st) < 0 ||
	    (r = check_owner(&st, uid, "the home directory", err, errlen)) < 0) {
		r = r < 0 ? r : -errno;
		goto out;
	}
	sfd = openat(hfd, ".ssh", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0) {
		r = pt_errf(err, errlen,
			    errno == ENOENT ? -ENOENT :
			    errno == ELOOP  ? -EPERM :
					      -errno,
			    "cannot open ~/.ssh: %s", strerror(errno));
		goto out;
	}
	if (fstat(sfd, &st) < 0 || (r = check_owner(&st, uid, "~/.ssh", err, errlen)) < 0) {
		r = r < 0 ? r : -errno;
		goto out;
	}
	fd = openat(sfd, "authorized_keys", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		r = pt_errf(err, errlen,
			    errno == ENOENT ? -ENOENT :
			    errno == ELOOP  ? -EPERM :
					      -errno,
			    "cannot open ~/.ssh/authorized_keys: %s",
			    errno == ELOOP ? "it is a symbolic link" : strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = pt_errf(err, errlen, -EPERM, "~/.ssh/authorized_keys is not a regular file");
		goto out;
	}
	r = check_owner(&st, uid, "~/.ssh/authorized_keys", err, errlen);
	if (r < 0)
		goto out;
	r = pt_read_fd(fd, PT_AUTHKEYS_MAX, &buf, &n);
	if (r == -EFBIG)
		pt_errf(err, errlen, r, "~/.ssh/authorized_keys is larger than %d bytes",
			PT_AUTHKEYS_MAX);
	if (r < 0)
		goto out;
	*ret = (char *)buf;
	*ret_len = n;
	buf = NULL;
	r = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	if (sfd >= 0)
		close(sfd);
	if (hfd >= 0)
		close(hfd);
	return r;
}
