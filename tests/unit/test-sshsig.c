/* SPDX-License-Identifier: MIT */
/*
 * The native SSH signature verifier (tokend/sshsig.c) and authorized_keys
 * (tokend/authkeys.c) against the real ssh-keygen (openssh-client): keys of
 * the three types tokend takes (ed25519, ecdsa nistp256, rsa) sign a grant
 * request with `ssh-keygen -Y sign -n pertok-grant`; the signature
 * verifies, and its key is found in authorized_keys; a key not in
 * authorized_keys, another namespace, one byte of the message changed,
 * options that refuse consent, a group-writable authorized_keys (or
 * ~/.ssh, or a symlink, or another owner) are each refused.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "authkeys.h"
#include "fileio.h"
#include "grantreq.h"
#include "sigreplay.h"
#include "sshsig.h"
#include "util.h"

#include "tokend-harness.h"

static char dir[64];

static const char *const key_types[] = { "ed25519", "ecdsa", "rsa" };

static char *slurp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *slurp(const char *fmt, ...)
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t n = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	assert_int_equal(pt_read_file(path, 1 << 20, &buf, &n), 0);
	return (char *)buf;
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* Keys: DIR/ed25519, ecdsa, rsa (authorized) and other (not); the request
 * DIR/req; DIR/authorized_keys with the three public keys. */
static int setup_group(void **state)
{
	char cmd[512];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pertok-test-sshsig-XXXXXX");
	/* 0711: another uid reaches the home below (tokend reads as the user) */
	if (!mkdtemp(dir) || chmod(dir, 0711) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "cd %s && ssh-keygen -q -t ed25519 -N '' -f ed25519 && "
		 "ssh-keygen -q -t ecdsa -b 256 -N '' -f ecdsa && "
		 "ssh-keygen -q -t rsa -b 3072 -N '' -f rsa && "
		 "ssh-keygen -q -t ed25519 -N '' -f other && "
		 "cat ed25519.pub ecdsa.pub rsa.pub > authorized_keys && "
		 "printf 'pertok-grant-request 1\\nhost=h\\nuser=alice\\n' > req",
		 dir);
	if (system(cmd) != 0)
		return -1;
	return 0;
}

static int teardown_group(void **state)
{
	(void)state;
	if (getenv("PERTOK_TEST_KEEP"))
		return 0;
	return th_run("rm -rf -- '%s'", dir) == 0 ? 0 : -1;
}

/* ssh-keygen -Y sign with key, namespace ns, over DIR/name: DIR/name.sig */
static void sign(const char *key, const char *ns, const char *name)
{
	assert_int_equal(th_run("cd %s && rm -f %s.sig && ssh-keygen -q -Y sign -f %s -n %s %s "
				">/dev/null 2>&1",
				dir, name, key, ns, name),
			 0);
}

/* Parses DIR/name.sig and verifies it over DIR/name with namespace ns. */
static int verify(const char *name, const char *ns, struct pt_sshsig **ret_sig, char *err,
		  size_t errlen)
{
	char *armor = slurp("%s/%s.sig", dir, name), *msg = slurp("%s/%s", dir, name);
	struct pt_sshsig *s = NULL;
	int r;

	r = pt_sshsig_parse(armor, strlen(armor), &s, err, errlen);
	assert_int_equal(r, 0);
	r = pt_sshsig_verify(s, ns, msg, strlen(msg), err, errlen);
	if (ret_sig)
		*ret_sig = s;
	else
		pt_sshsig_free(s);
	free(armor);
	free(msg);
	return r;
}

static int match(const struct pt_sshsig *s, const char *keys_file, char *err, size_t errlen)
{
	char *text = slurp("%s/%s", dir, keys_file);
	int r = pt_authkeys_match(text, strlen(text), s->pubkey, s->pubkey_len, err, errlen);

	free(text);
	return r;
}

/* ------------------------------------------------------------------ tests */

static void test_valid_each_type(void **state)
{
	static const enum pt_sshkey_type want[] = { PT_SSHKEY_ED25519, PT_SSHKEY_ECDSA_P256,
						    PT_SSHKEY_RSA };
	char err[256] = "";

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct pt_sshsig *s = NULL;

		sign(key_types[i], PT_SSHSIG_NAMESPACE, "req");
		if (verify("req", PT_SSHSIG_NAMESPACE, &s, err, sizeof(err)) != 0)
			fail_msg("%s: %s", key_types[i], err);
		assert_int_equal(s->key_type, want[i]);
		assert_string_equal(s->ns, "pertok-grant");
		assert_int_equal(match(s, "authorized_keys", err, sizeof(err)), 0);
		pt_sshsig_free(s);
	}
}

/* A good signature by a key that is not in authorized_keys. */
static void test_key_not_authorized(void **state)
{
	struct pt_sshsig *s = NULL;
	char err[256];

	(void)state;
	sign("other", PT_SSHSIG_NAMESPACE, "req");
	assert_int_equal(verify("req", PT_SSHSIG_NAMESPACE, &s, err, sizeof(err)), 0);
	assert_int_equal(match(s, "authorized_keys", err, sizeof(err)), -ENOENT);
	pt_sshsig_free(s);
}

static void test_other_namespace(void **state)
{
	char err[256];

	(void)state;
	sign("ed25519", "file", "req");
	assert_int_equal(verify("req", PT_SSHSIG_NAMESPACE, NULL, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "signature namespace is \"file\", not \"pertok-grant\"");
}

/* One byte of the message changed: no key type lets it through. */
static void test_message_changed(void **state)
{
	char err[256], path[PATH_MAX];

	(void)state;
	snprintf(path, sizeof(path), "%s/req", dir);
	for (size_t i = 0; i < 3; i++) {
		sign(key_types[i], PT_SSHSIG_NAMESPACE, "req");
		spit(path, "pertok-grant-request 1\nhost=h\nuser=alicf\n");
		assert_int_equal(verify("req", PT_SSHSIG_NAMESPACE, NULL, err, sizeof(err)),
				 -EKEYREJECTED);
		assert_non_null(strstr(err, "does not verify"));
		spit(path, "pertok-grant-request 1\nhost=h\nuser=alice\n");
	}
}

/* The rule for options (authkeys.h). */
static void test_options(void **state)
{
	static const struct {
		const char *options;
		int expect;
	} cases[] = {
		{ "", 0 },
		{ "no-pty,no-port-forwarding ", 0 },
		{ "environment=\"A=b c\",no-X11-forwarding ", 0 },
		{ "command=\"/bin/true\" ", -EPERM },
		{ "from=\"10.0.0.0/8\" ", -EPERM },
		{ "restrict,pty ", -EPERM },
		{ "cert-authority ", -EPERM },
		{ "expiry-time=\"20990101\" ", -EPERM },
		{ "frobnicate ", -EPERM },
	};
	struct pt_sshsig *s = NULL;
	char *pub, line[4096], path[PATH_MAX], err[256];

	(void)state;
	sign("ed25519", PT_SSHSIG_NAMESPACE, "req");
	assert_int_equal(verify("req", PT_SSHSIG_NAMESPACE, &s, err, sizeof(err)), 0);
	pub = slurp("%s/ed25519.pub", dir);
	snprintf(path, sizeof(path), "%s/ak", dir);
	for (size_t i = 0; i < PT_ELEMENTSOF(cases); i++) {
		snprintf(line, sizeof(line), "# comment\n\n%s%s", cases[i].options, pub);
		spit(path, line);
		err[0] = '\0';
		if (match(s, "ak", err, sizeof(err)) != cases[i].expect)
			fail_msg("options \"%s\": not %d (%s)", cases[i].options, cases[i].expect,
				 err);
	}
	/* a refused line does not hide a plain one of the same key */
	snprintf(line, sizeof(line), "command=\"/x\" %s%s", pub, pub);
	spit(path, line);
	assert_int_equal(match(s, "ak", err, sizeof(err)), 0);
	free(pub);
	pt_sshsig_free(s);
}

static void test_malformed(void **state)
{
	static const struct {
		const char *armor, *why;
	} cases[] = {
		{ "", "does not start with" },
		{ "-----BEGIN SSH SIGNATURE-----\nAAAA\n", "does not end with" },
		{ "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH*\n-----END SSH SIGNATURE-----\n",
		  "not base64" },
		{ "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n",
		  "no version" },
		{ "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAg==\n-----END SSH SIGNATURE-----\n",
		  "version 2" },
		{ "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ=\n-----END SSH SIGNATURE-----\n",
		  "malformed base64" },
		{ "-----BEGIN SSH SIGNATURE-----\nQUJDREVG\n-----END SSH SIGNATURE-----\n",
		  "does not start with \"SSHSIG\"" },
	};
	struct pt_sshsig *s = NULL;
	char err[256];

	(void)state;
	for (size_t i = 0; i < PT_ELEMENTSOF(cases); i++) {
		err[0] = '\0';
		assert_int_equal(pt_sshsig_parse(cases[i].armor, strlen(cases[i].armor), &s, err,
						 sizeof(err)),
				 -EBADMSG);
		assert_null(s);
		if (!strstr(err, cases[i].why))
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err, cases[i].why);
	}
}

/* An RSA key's size is its modulus' bits, not its bytes: 256 bytes that
 * start 0x01 are 2041 bits, under the 2048 taken. */
static void test_rsa_short_modulus(void **state)
{
	uint8_t blob[4 + 7 + 4 + 3 + 4 + 256];
	enum pt_sshkey_type t;
	char err[256] = "";
	uint8_t *p = blob;

	(void)state;
	memcpy(p, "\0\0\0\7ssh-rsa", 11);
	p += 11;
	memcpy(p, "\0\0\0\3\1\0\1", 7); /* e = 65537 */
	p += 7;
	memcpy(p, "\0\0\1\0", 4); /* n: 256 bytes */
	p += 4;
	memset(p, 0xa5, 256);
	p[0] = 0x01; /* 2041 bits */
	p[255] |= 1;
	assert_int_equal(pt_sshkey_check(blob, sizeof(blob), &t, err, sizeof(err)), -EBADMSG);
	if (!strstr(err, "modulus not 2048 to 16384 bits"))
		fail_msg("\"%s\"", err);
}

/* StrictModes: the file and ~/.ssh as sshd wants them, or refused. */
static void test_read_modes(void **state)
{
	char home[PATH_MAX], ssh[PATH_MAX + 8], ak[PATH_MAX + 32], err[256];
	char *text = NULL;
	size_t n = 0;
	uid_t me = getuid();

	(void)state;
	snprintf(home, sizeof(home), "%s/home", dir);
	snprintf(ssh, sizeof(ssh), "%s/.ssh", home);
	snprintf(ak, sizeof(ak), "%s/authorized_keys", ssh);
	assert_int_equal(th_run("mkdir -p %s && chmod 0755 %s && chmod 0700 %s && "
				"cp %s/authorized_keys %s && chmod 0600 %s",
				ssh, home, ssh, dir, ak, ak),
			 0);
	assert_int_equal(pt_authkeys_read(home, me, &text, &n, err, sizeof(err)), 0);
	assert_true(n > 100 && strlen(text) == n);
	free(text);

	assert_int_equal(chmod(ak, 0620), 0);
	assert_int_equal(pt_authkeys_read(home, me, &text, &n, err, sizeof(err)), -EPERM);
	assert_string_equal(err, "~/.ssh/authorized_keys is writable by group or others "
				 "(mode 0620)");
	assert_int_equal(chmod(ak, 0600), 0);
	assert_int_equal(chmod(ssh, 0770), 0);
	assert_int_equal(pt_authkeys_read(home, me, &text, &n, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "~/.ssh is writable by group or others"));
	assert_int_equal(chmod(ssh, 0700), 0);
	assert_int_equal(chmod(home, 0757), 0);
	assert_int_equal(pt_authkeys_read(home, me, &text, &n, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "the home directory is writable"));
	assert_int_equal(chmod(home, 0755), 0);

	/* a symlink (to a file that would pass) */
	assert_int_equal(th_run("mv %s %s.real && ln -s authorized_keys.real %s", ak, ak, ak), 0);
	assert_int_equal(pt_authkeys_read(home, me, &text, &n, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(th_run("rm %s && mv %s.real %s", ak, ak, ak), 0);

	/* no file */
	assert_int_equal(th_run("mv %s %s.away", ak, ak), 0);
	assert_int_equal(pt_authkeys_read(home, me, &text, &n, err, sizeof(err)), -ENOENT);
	assert_int_equal(th_run("mv %s.away %s", ak, ak), 0);

	/* another user's file (root can make one) */
	if (me == 0) {
		assert_int_equal(chown(ak, 1, 1), 0);
		assert_int_equal(pt_authkeys_read(home, 0, &text, &n, err, sizeof(err)), -EPERM);
		assert_non_null(strstr(err, "owned by uid 1"));
		/* ... which is that user's own */
		assert_int_equal(chown(ssh, 1, 1), 0);
		assert_int_equal(pt_authkeys_read(home, 1, &text, &n, err, sizeof(err)), 0);
		free(text);
	}
}

/* The replay cache of signed requests (sigreplay.c): a nonce twice, also
 * after a reopen; the per-uid cap; what aged out goes; a damaged file is
 * refused. */
static void test_replay_cache(void **state)
{
	struct pt_sigreplay *s = NULL;
	char rdir[PATH_MAX], nonce[40], path[PATH_MAX + 32];
	uint64_t now = 1790000000;

	(void)state;
	snprintf(rdir, sizeof(rdir), "%s/replay", dir);
	assert_int_equal(mkdir(rdir, 0700), 0);
	assert_int_equal(pt_sigreplay_open(rdir, &s), 0);
	assert_int_equal(pt_sigreplay_take(s, 1000, "nonce-aaaaaaaaaaaa", now, now), 0);
	assert_int_equal(pt_sigreplay_take(s, 1000, "nonce-aaaaaaaaaaaa", now, now + 1), -EALREADY);
	/* another user's nonce is theirs */
	assert_int_equal(pt_sigreplay_take(s, 1001, "nonce-aaaaaaaaaaaa", now, now + 1), 0);
	pt_sigreplay_free(s);
	s = NULL;
	/* durable: a reopen (a restart) still knows it */
	assert_int_equal(pt_sigreplay_open(rdir, &s), 0);
	assert_int_equal(pt_sigreplay_take(s, 1000, "nonce-aaaaaaaaaaaa", now, now + 2), -EALREADY);
	/* at most PT_SIGREPLAY_PER_UID live ones per uid */
	for (int i = 1; i < PT_SIGREPLAY_PER_UID; i++) {
		snprintf(nonce, sizeof(nonce), "nonce-%012d", i);
		assert_int_equal(pt_sigreplay_take(s, 1000, nonce, now, now + 3), 0);
	}
	assert_int_equal(pt_sigreplay_take(s, 1000, "nonce-bbbbbbbbbbbb", now, now + 3), -EDQUOT);
	/* once the requests are too old to be accepted, their nonces go */
	assert_int_equal(pt_sigreplay_take(s, 1000, "nonce-bbbbbbbbbbbb",
					   now + PT_GRANTREQ_MAX_AGE + PT_SIGREPLAY_SKEW + 1,
					   now + PT_GRANTREQ_MAX_AGE + PT_SIGREPLAY_SKEW + 1),
			 0);
	/* the clock stepped back: the request whose nonce was dropped above
	 * looks fresh again, and is still refused, after a restart too */
	assert_int_equal(pt_sigreplay_take(s, 1000, "nonce-aaaaaaaaaaaa", now, now + 10), -ESTALE);
	pt_sigreplay_free(s);
	s = NULL;
	assert_int_equal(pt_sigreplay_open(rdir, &s), 0);
	assert_int_equal(pt_sigreplay_take(s, 1001, "nonce-aaaaaaaaaaaa", now, now + 10), -ESTALE);
	assert_int_equal(pt_sigreplay_take(s, 1000, "nonce-cccccccccccc", now + 20, now + 20), 0);
	pt_sigreplay_free(s);
	s = NULL;
	/* a damaged file: no signed request until it is mended */
	snprintf(path, sizeof(path), "%s/" PT_SIGREPLAY_FILE, rdir);
	spit(path, "pertok-sshsig-nonces 1\n1000 x nonce\n");
	assert_int_equal(pt_sigreplay_open(rdir, &s), -EBADMSG);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_each_type),	  cmocka_unit_test(test_key_not_authorized),
		cmocka_unit_test(test_other_namespace),	  cmocka_unit_test(test_message_changed),
		cmocka_unit_test(test_options),		  cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_rsa_short_modulus), cmocka_unit_test(test_read_modes),
		cmocka_unit_test(test_replay_cache),
	};

	if (system("command -v ssh-keygen >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP no ssh-keygen (Debian: openssh-client; "
		       "scripts/install-deps.sh)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
