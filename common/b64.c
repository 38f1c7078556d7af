/* SPDX-License-Identifier: MIT */
/* Strict base64url without padding (RFC 4648 section 5). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "util.h"

static const char b64url_alphabet[64] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *pt_b64url_encode(const void *p, size_t n)
{
	const uint8_t *s = p;
	size_t olen, i, o = 0;
	char *out;

	if (n > (SIZE_MAX - 4) / 4 * 3)
		return NULL;
	olen = n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
	out = malloc(olen + 1);
	if (!out)
		return NULL;
	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];

		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
		out[o++] = b64url_alphabet[v >> 6 & 63];
		out[o++] = b64url_alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;

		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;

		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
		out[o++] = b64url_alphabet[v >> 6 & 63];
	}
	out[o] = '\0';
	return out;
}

/* Value of one base64url character, or -1. */
static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int pt_b64url_decode(const char *s, size_t n, uint8_t **ret, size_t *ret_len)
{
	size_t olen, o = 0, rem = n % 4;
	uint32_t acc = 0;
	uint8_t *out;
	int bits = 0;

	if (!s && n > 0)
		return -EINVAL;
	if (rem == 1)
		return -EINVAL;
	olen = n / 4 * 3 + (rem ? rem - 1 : 0);
	out = malloc(olen + 1);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int v = b64url_value((unsigned char)s[i]);

		if (v < 0)
			goto fail;
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* Leftover bits (2 or 4) must be zero: one canonical encoding only. */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		goto fail;
	out[o] = '\0';
	*ret = out;
	*ret_len = o;
	return 0;
fail:
	pt_wipe(out, olen + 1);
	free(out);
	return -EINVAL;
}

int pt_b64_decode(const char *s, size_t n, uint8_t **ret, size_t *ret_len)
{
	size_t pad = 0;
	char *url;
	int r;

	if (!s || !ret || !ret_len || n == 0 || n % 4 != 0)
		return -EINVAL;
	while (pad < 2 && s[n - pad - 1] == '=')
		pad++;
	url = malloc(n - pad + 1);
	if (!url)
		return -ENOMEM;
	for (size_t i = 0; i < n - pad; i++) {
		char c = s[i];

		/* the other alphabet's two characters, and '=' inside */
		if (c == '-' || c == '_' || c == '=') {
			free(url);
			return -EINVAL;
		}
		url[i] = c == '+' ? '-' : c == '/' ? '_' : c;
	}
	r = pt_b64url_decode(url, n - pad, ret, ret_len);
	free(url);
	return r;
}
