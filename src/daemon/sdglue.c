/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sdglue.c: what the daemon does for systemd, and nothing when systemd is
 * not there (no LISTEN_FDS, no NOTIFY_SOCKET): adopting the listening
 * sockets of tpmbrokerd.socket, and READY=1 / STATUS= / STOPPING=1.
 *
 * Passed sockets are told apart by kind, not by order: a Unix stream socket
 * speaks our framed protocol; TCP sockets are mssim ports, the one whose
 * port is another passed port + 1 being that one's platform port (as with
 * --listen mssim:ADDR:PORT).  FileDescriptorName=mssim-platform (or mssim,
 * tpmbroker) in the socket unit overrides the guess.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "../common/log.h"
#include "../common/util.h"
#include "backend.h"
#include "framer.h"
#include "instance.h"
#include "listen.h"
#include "sdglue.h"
#include "server.h"

#define STATUS_EVERY_NS 2000000000u /* STATUS= at most this often, when it changed */

/* Address and port of a TCP socket: "127.0.0.1", 2321. */
static int
inet_local(int fd, char *host, size_t cap, unsigned *ret_port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const void *addr;
	unsigned port;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET) {
		addr = &((struct sockaddr_in *)&ss)->sin_addr;
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		addr = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		return -EAFNOSUPPORT;
	}
	if (inet_ntop(ss.ss_family, addr, host, (socklen_t)cap) == NULL)
		return -errno;
	*ret_port = port;
	return 0;
}

static int
unix_name(int fd, char *buf, size_t cap)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);

	memset(&sa, 0, sizeof(sa));
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	snprintf(buf, cap, "unix:%.107s", sa.sun_path[0] != '\0' ? sa.sun_path : "(abstract)");
	return 0;
}

/* fd's port - 1 is among the passed TCP sockets: fd is that one's platform port. */
static bool
is_platform_port(int fd, unsigned port, int n)
{
	char host[INET6_ADDRSTRLEN];
	unsigned p;

	for (int i = 0; i < n; i++) {
		int other = SD_LISTEN_FDS_START + i;
		if (other != fd && sd_is_socket_inet(other, 0, SOCK_STREAM, 1, 0) > 0 &&
		    inet_local(other, host, sizeof(host), &p) == 0 && p + 1 == port)
			return true;
	}
	return false;
}

static int
adopt_one(struct server *srv, int fd, const char *fdname, int n)
{
	struct listener **slot = &srv->listeners[srv->n_listeners];
	const struct framer *fr;
	char name[160], host[INET6_ADDRSTRLEN];
	unsigned port;
	int r;

	if (srv->n_listeners >= sizeof(srv->listeners) / sizeof(srv->listeners[0])) {
		log_msg(LOG_LVL_ERR, "socket activation: more than %zu sockets",
			sizeof(srv->listeners) / sizeof(srv->listeners[0]));
		return -E2BIG;
	}
	if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0) {
		fr = &framer_tb;
		if ((r = unix_name(fd, name, sizeof(name))) < 0)
			return r;
	} else if (sd_is_socket_inet(fd, 0, SOCK_STREAM, 1, 0) > 0) {
		if ((r = inet_local(fd, host, sizeof(host), &port)) < 0)
			return r;
		if (fdname != NULL && strcmp(fdname, "mssim-platform") == 0)
			fr = &framer_mssim_platform;
		else if (fdname != NULL && strcmp(fdname, "mssim") == 0)
			fr = &framer_mssim_tpm;
		else
			fr = is_platform_port(fd, port, n) ? &framer_mssim_platform
							   : &framer_mssim_tpm;
		snprintf(name, sizeof(name), "%s:%s:%u", fr->name, host, port);
	} else {
		log_msg(LOG_LVL_ERR, "socket activation: fd %d (%s) is not a listening Unix or "
			"TCP stream socket", fd, fdname != NULL ? fdname : "unnamed");
		return -EINVAL;
	}
	if ((r = listen_adopt(srv, fd, fr, name, slot)) < 0) {
		log_errno(LOG_LVL_ERR, -r, "socket activation: %s", name);
		return r;
	}
	srv->n_listeners++;
	log_info("listening on %s (from systemd)", name);
	return 0;
}

int
sd_adopt_frontends(struct server *srv)
{
	char **names = NULL;
	int n, r = 0;

	n = sd_listen_fds_with_names(1, &names);
	if (n <= 0) {
		if (n < 0)
			log_errno(LOG_LVL_WARN, -n, "socket activation: LISTEN_FDS");
		return 0;
	}
	for (int i = 0; i < n && r == 0; i++)
		r = adopt_one(srv, SD_LISTEN_FDS_START + i, names != NULL ? names[i] : NULL, n);
	if (names != NULL) {
		for (int i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	if (r < 0)
		return r;
	if (srv->cfg.n_listen > 1 || srv->cfg.no_unix)
		log_info("socket activation: --socket and --listen give way to the %d sockets "
			 "systemd passed", n);
	return n;
}

static void
status_tick(struct loop_timer *t)
{
	struct sdnotify *sn = t->data;
	struct server *srv = sn->srv;

	if (srv->n_conns != sn->last_conns) {
		sn->last_conns = srv->n_conns;
		(void)sd_notifyf(0, "STATUS=%u connection%s; TPM %s", srv->n_conns,
				 srv->n_conns == 1 ? "" : "s", srv->inst[0]->be->desc);
	}
	loop_timer_arm(srv->loop, t, STATUS_EVERY_NS, status_tick, sn);
}

void
sd_ready(struct server *srv, struct sdnotify *sn)
{
	const char *ns = getenv("NOTIFY_SOCKET");

	sn->srv = srv;
	if (ns == NULL || ns[0] == '\0')
		return; /* not under systemd: no timer, no wake-ups */
	(void)sd_notifyf(0, "READY=1\nSTATUS=0 connections; TPM %s", srv->inst[0]->be->desc);
	sn->last_conns = 0;
	sn->armed = true;
	loop_timer_arm(srv->loop, &sn->timer, STATUS_EVERY_NS, status_tick, sn);
}

void
sd_stopping(struct server *srv, struct sdnotify *sn)
{
	if (sn->armed) {
		loop_timer_disarm(srv->loop, &sn->timer);
		sn->armed = false;
	}
	(void)sd_notify(0, "STOPPING=1\nSTATUS=stopping: releasing clients' TPM resources");
}
