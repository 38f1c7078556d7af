/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"

int pt_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *q = p;
	struct stat st;
	bool sock;

	sock = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
	while (n > 0) {
		ssize_t k = sock ? send(fd, q, n, MSG_NOSIGNAL) : write(fd, q, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		q += k;
		n -= (size_t)k;
	}
	return 0;
}
