/* SPDX-License-Identifier: MIT */
/*
 * The front's event loop: one thread, epoll, non-blocking sockets. A slow or
 * stalled client costs one connection slot until its timeout, never the
 * others' time: connections are served in turns of a few requests each, one
 * whose replies are not read is not read either, and unprivileged uids have
 * their own connection caps and request rate (tokend.conf(5)).
 */
#pragma once

#include "conf.h"

/* Opens the listening sockets: the ones systemd passed (LISTEN_FDS: tokend's
 * socket, and the credential socket if one is named "credential" in
 * LISTEN_FDNAMES, else *ret_cfd is -1), or binds cfg->socket_path and the
 * credential socket beside it (pt_server_cred_path) (mode 0666, in a
 * directory made 0755 whatever the umask; refuses when another tokend
 * answers there). *ret_activated tells which. */
int pt_server_listen(const struct pt_config *cfg, int *ret_fd, int *ret_cfd, int *ret_activated,
		     char *err, size_t errlen);

/* The credential socket's path (credential.h): credential.sock in the
 * directory of cfg->socket_path. 0 or -ENAMETOOLONG. */
int pt_server_cred_path(const struct pt_config *cfg, char *buf, size_t len);

/* The front's event loop (privilege separation, tokend(8)): serves the
 * clients of listen_fd (and those of cred_fd, the credential socket, unless
 * -1: credential.h), handing every decoded request to the key holder on
 * pair and its replies back. Returns when the key holder is gone: 0 or
 * -errno. */
int pt_front_run(int listen_fd, int cred_fd, int pair);
