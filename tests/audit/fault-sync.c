/* SPDX-License-Identifier: MIT */
/*
 * Test-only fault injection, LD_PRELOADed into a real tokend by
 * test-audit-daemon: while the file named by $PT_FAULT_SYNC_FLAG exists,
 * fsync and fdatasync of a file named "audit.log" fail with EIO (as on a
 * dying disk); every other call goes through. Never installed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fdatasync(int fd);
int fsync(int fd);

#include <stdbool.h>

static bool faulty(int fd)
{
	const char *flag = getenv("PT_FAULT_SYNC_FLAG");
	char link[64], target[PATH_MAX];
	ssize_t n;

	if (!flag || access(flag, F_OK) != 0)
		return false;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	n = (ssize_t)strlen(target);
	return n >= 10 && strcmp(target + n - 10, "/audit.log") == 0;
}

int fdatasync(int fd)
{
	static int (*real)(int);

	if (faulty(fd)) {
		errno = EIO;
		return -1;
	}
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	return real ? real(fd) : -1;
}

int fsync(int fd)
{
	static int (*real)(int);

	if (faulty(fd)) {
		errno = EIO;
		return -1;
	}
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	return real ? real(fd) : -1;
}
