/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * peer.c: identity of the process on the other end of a client connection.
 *
 * frontend      source                          vouches for          cannot vouch for
 * unix socket   SO_PEERCRED (kernel)            uid, gid, pid at     who holds the fd now
 *               SO_PEERGROUPS (kernel)          connect()/socket-    (SCM_RIGHTS, fork, exec
 *                                               pair() time          keep it)
 *               /proc/PID/cgroup "0::" line     cgroup at accept     see below
 * tcp loopback  sock_diag: the client socket's  uid that created     pid, cgroup; groups are
 *               sk_uid (fsuid at socket())      the client socket    today's NSS view of uid
 * tcp remote    getpeername()                   nothing              anything
 *
 * The cgroup is read at accept time, not at connect(), so:
 *  - pid reuse: the peer may exit between connect() and our read, and its
 *    pid be given to another process, whose cgroup we would then report.
 *    Linux >= 6.5 has SO_PEERPIDFD (a pidfd of the connecting process):
 *    we read /proc/PID/cgroup and then poll the pidfd; not readable means
 *    the process has not exited, so it still owns PID and the read was its.
 *    Debian 12's kernel (6.1) and its headers lack SO_PEERPIDFD: there the
 *    getsockopt fails with ENOPROTOOPT and the race stays open (narrow: the
 *    pid space must wrap between connect() and accept).  A policy should not
 *    grant on cgroup alone on such kernels; the uid is not affected.
 *  - a process moves itself (echo > cgroup.procs) where it may write: a user
 *    can move its processes within its delegated user@UID.service subtree,
 *    not into system.slice.  So cgroup prefixes are meaningful only above
 *    what the peer's uid can write; a move after accept is not seen.
 *  - cgroup names may contain newlines: a delegated user could name one
 *    "x\n0::/system.slice/..." to forge a line.  peer_cgroup_parse() accepts
 *    the file only if exactly one line starts with "0::" and it is the last
 *    (the kernel prints the default hierarchy last), else "unknown".
 *  - paths are relative to the daemon's cgroup namespace; a peer in a
 *    pid namespace we cannot see has pid 0, and then no cgroup.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../common/util.h"
#include "peer.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5; not in Debian 12's linux-libc-dev 6.1 */
#endif

/* TCP states in which a connected client socket can be while a process
 * still holds it.  TIME_WAIT, LISTEN and request socks are reported with
 * uid 0 and must never count as root. */
#define DIAG_STATES                                                                                \
	(1u << TCP_ESTABLISHED | 1u << TCP_FIN_WAIT1 | 1u << TCP_FIN_WAIT2 |                       \
	 1u << TCP_CLOSE_WAIT | 1u << TCP_LAST_ACK | 1u << TCP_CLOSING)
#define DIAG_TIMEOUT_US 100000

static void
peer_init(struct peer_id *p, enum peer_source src)
{
	memset(p, 0, sizeof(*p));
	p->source = src;
	p->uid = (uid_t)-1;
	p->gid = (gid_t)-1;
}

/* ---- cgroup ---- */

int
peer_cgroup_parse(const char *data, size_t len, char *ret, size_t cap)
{
	const char *line = data, *end = data + len, *path = NULL;
	size_t path_len = 0;
	unsigned n_v2 = 0;

	if (len == 0 || data[len - 1] != '\n')
		return -EBADMSG; /* truncated or not from the kernel */
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		bool last = nl + 1 == end;

		if (nl - line >= 3 && memcmp(line, "0::", 3) == 0) {
			if (++n_v2 > 1 || !last)
				return -EBADMSG; /* a forged line inside a cgroup name */
			path = line + 3;
			path_len = (size_t)(nl - path);
		}
		line = nl + 1;
	}
	if (path == NULL)
		return -ENOENT; /* no cgroup v2 hierarchy */
	if (path_len == 0 || path[0] != '/')
		return -EBADMSG;
	if (path_len >= cap)
		return -ENAMETOOLONG; /* a cut path could match a wrong prefix */
	memcpy(ret, path, path_len);
	ret[path_len] = '\0';
	return 0;
}

/* One read of /proc/PID/cgroup (a few hundred bytes; 4 KiB is a bound). */
static int
peer_cgroup_read(pid_t pid, char *ret, size_t cap)
{
	_cleanup_(closep) int fd = -1;
	char path[32], buf[4096];
	ssize_t n;

	(void)snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ESRCH ? -ESRCH : -errno;
	if ((size_t)n == sizeof(buf))
		return -EFBIG;
	return peer_cgroup_parse(buf, (size_t)n, ret, cap);
}

/*
 * The peer's cgroup, or "" with -errno.  With a pidfd the answer is checked
 * to be the connecting process's; without, see the pid reuse note on top.
 */
static int
peer_unix_cgroup(int fd, struct peer_id *p)
{
	_cleanup_(closep) int pidfd = -1;
	socklen_t len = sizeof(pidfd);
	char cg[sizeof(p->cgroup)];
	struct pollfd pfd;
	int r;

	if (p->pid <= 0)
		return 0; /* not visible from our pid namespace */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0) {
		if (errno != ENOPROTOOPT)
			return -ESRCH; /* EINVAL/ESRCH: the peer has been reaped */
		pidfd = -1;    /* kernel < 6.5 */
	}
	if ((r = peer_cgroup_read(p->pid, cg, sizeof(cg))) < 0)
		return r;
	if (pidfd >= 0) {
		pfd = (struct pollfd){.fd = pidfd, .events = POLLIN};
		if (poll(&pfd, 1, 0) != 0)
			return -ESRCH; /* exited: PID may be another process now */
	}
	memcpy(p->cgroup, cg, sizeof(cg));
	return 0;
}

/* ---- Unix ---- */

int
peer_from_unix(int fd, struct peer_id *ret)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int r, first = 0;

	peer_init(ret, PEER_UNIX);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	ret->uid_known = true;
	ret->uid = cred.uid;
	ret->gid = cred.gid;
	ret->pid = cred.pid;

	len = sizeof(ret->groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, ret->groups, &len) == 0)
		ret->n_groups = len / sizeof(gid_t);
	else
		first = errno == ERANGE ? -E2BIG : -errno;

	r = peer_unix_cgroup(fd, ret);
	return first < 0 ? first : r;
}

/* ---- TCP ---- */

static bool
peer_v4_is_loopback(const struct in_addr *a)
{
	return (ntohl(a->s_addr) >> 24) == 127;
}

bool
peer_addr_is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in6 *s6;
	struct in_addr a4;

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET)
		return peer_v4_is_loopback(&((const struct sockaddr_in *)(const void *)sa)->sin_addr);
	if (sa->sa_family != AF_INET6)
		return false;
	s6 = (const struct sockaddr_in6 *)(const void *)sa;
	if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
		return true;
	if (!IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return false;
	memcpy(&a4, s6->sin6_addr.s6_addr + 12, sizeof(a4));
	return peer_v4_is_loopback(&a4);
}

static void
peer_format_addr(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)(const void *)ss;
		(void)inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		(void)snprintf(buf, cap, "%s:%u", host, ntohs(s->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)(const void *)ss;
		(void)inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		(void)snprintf(buf, cap, "[%s]:%u", host, ntohs(s->sin6_port));
	} else {
		(void)snprintf(buf, cap, "family %u", (unsigned)ss->ss_family);
	}
}

/*
 * One endpoint as sock_diag wants it.  A v4-mapped address is asked as
 * AF_INET: the kernel keeps v4 connections of both socket families in one
 * table, so the client is found whether it used AF_INET or AF_INET6.
 */
static int
peer_diag_endpoint(const struct sockaddr_storage *ss, uint8_t *family, __be32 addr[4],
		   __be16 *port, uint32_t *ifindex)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)(const void *)ss;
		*family = AF_INET;
		memcpy(addr, &s->sin_addr, 4);
		*port = s->sin_port;
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)(const void *)ss;
		*port = s->sin6_port;
		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
			*family = AF_INET;
			memcpy(addr, s->sin6_addr.s6_addr + 12, 4);
		} else {
			*family = AF_INET6;
			memcpy(addr, &s->sin6_addr, 16);
			*ifindex = s->sin6_scope_id;
		}
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* addr as the 4 bytes of an IPv4 address if it is one, or mapped in an IPv6 one */
static const void *
peer_diag_v4(uint8_t family, const __be32 addr[4])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (family == AF_INET)
		return addr;
	if (family == AF_INET6 && memcmp(addr, mapped, sizeof(mapped)) == 0)
		return addr + 3;
	return NULL;
}

/*
 * Is this answer the socket we asked for, still open (not orphaned)?  A v4
 * question may be answered by an AF_INET6 client socket, in mapped form.
 */
static bool
peer_diag_match(const struct inet_diag_msg *m, const struct inet_diag_req_v2 *q)
{
	if (m->id.idiag_sport != q->id.idiag_sport || m->id.idiag_dport != q->id.idiag_dport)
		return false;
	if (q->sdiag_family == AF_INET) {
		const void *src = peer_diag_v4(m->idiag_family, m->id.idiag_src);
		const void *dst = peer_diag_v4(m->idiag_family, m->id.idiag_dst);
		if (src == NULL || dst == NULL || memcmp(src, q->id.idiag_src, 4) != 0 ||
		    memcmp(dst, q->id.idiag_dst, 4) != 0)
			return false;
	} else if (m->idiag_family != AF_INET6 ||
		   memcmp(m->id.idiag_src, q->id.idiag_src, 16) != 0 ||
		   memcmp(m->id.idiag_dst, q->id.idiag_dst, 16) != 0) {
		return false;
	}
	return m->idiag_inode != 0 && m->idiag_state < 32 &&
	       (DIAG_STATES & (1u << m->idiag_state)) != 0;
}

/*
 * uid of the socket whose local end is peer and remote end is local: the
 * client's.  One exact-lookup request; the kernel answers inside sendmsg(),
 * so the recv does not wait (SO_RCVTIMEO bounds it anyway).
 */
static int
peer_diag_uid(const struct sockaddr_storage *peer, const struct sockaddr_storage *local,
	      uid_t *ret_uid)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {0};
	union {
		struct nlmsghdr nlh;
		char buf[4096];
	} rsp;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK}, from;
	struct timeval tv = {.tv_sec = 0, .tv_usec = DIAG_TIMEOUT_US};
	struct iovec iov = {.iov_base = rsp.buf, .iov_len = sizeof(rsp.buf)};
	struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
			    .msg_iovlen = 1};
	_cleanup_(closep) int nl = -1;
	uint8_t lfam = 0;
	uint32_t ifx = 0;
	ssize_t n;
	int r;

	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST;
	req.nlh.nlmsg_seq = 1;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = ~0u;
	req.r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if ((r = peer_diag_endpoint(peer, &req.r.sdiag_family, req.r.id.idiag_src,
				    &req.r.id.idiag_sport, &ifx)) < 0 ||
	    (r = peer_diag_endpoint(local, &lfam, req.r.id.idiag_dst, &req.r.id.idiag_dport,
				    &ifx)) < 0)
		return r;
	if (lfam != req.r.sdiag_family)
		return -EAFNOSUPPORT;
	req.r.id.idiag_if = ifx;

	if ((nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)) < 0)
		return -errno;
	if (setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	if (sendto(nl, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	do
		n = recvmsg(nl, &mh, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	if (mh.msg_namelen != sizeof(from) || from.nl_pid != 0 || (mh.msg_flags & MSG_TRUNC))
		return -EBADMSG;

	for (struct nlmsghdr *h = &rsp.nlh; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_seq != req.nlh.nlmsg_seq)
			continue;
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				return -EBADMSG;
			return e->error < 0 ? e->error : -ENOENT;
		}
		if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
		    h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			if (!peer_diag_match(m, &req.r))
				return -ENOENT; /* closed, or not the client socket */
			*ret_uid = m->idiag_uid;
			return 0;
		}
	}
	return -ENOENT;
}

/*
 * Primary gid and groups of a uid from NSS.  With "files" (what the daemon
 * expects) this is a read of /etc/passwd and /etc/group, ~20 us.  A remote
 * backend (sss, ldap, winbind) can block the event loop for its whole
 * timeout, and nscd or nss-systemd (Debian's "files systemd", asking
 * systemd-userdbd over a socket) add a round trip each; only TCP peers pay
 * this: SO_PEERGROUPS spares the Unix path any NSS call.
 */
static int
peer_uid_groups(struct peer_id *p)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int n = PEER_MAX_GROUPS, r;

	r = getpwuid_r(p->uid, &pw, buf, sizeof(buf), &res);
	if (r != 0)
		return -r;
	if (res == NULL)
		return 0; /* no such user: uid alone */
	p->gid = pw.pw_gid;
	if (getgrouplist(pw.pw_name, pw.pw_gid, p->groups, &n) < 0) {
		p->n_groups = 0;
		return -E2BIG;
	}
	p->n_groups = (size_t)n;
	return 0;
}

int
peer_from_tcp(int fd, struct peer_id *ret)
{
	struct sockaddr_storage peer, local;
	socklen_t plen = sizeof(peer), llen = sizeof(local);
	uid_t uid;
	int r;

	peer_init(ret, PEER_NONE);
	if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0 ||
	    getsockname(fd, (struct sockaddr *)&local, &llen) < 0)
		return -errno;
	peer_format_addr(&peer, ret->addr, sizeof(ret->addr));
	peer_format_addr(&local, ret->local, sizeof(ret->local));
	if (!peer_addr_is_loopback((const struct sockaddr *)&peer)) {
		ret->source = PEER_TCP_REMOTE;
		return 0;
	}
	ret->source = PEER_TCP_LOOPBACK;
	if ((r = peer_diag_uid(&peer, &local, &uid)) < 0)
		return r;
	ret->uid_known = true;
	ret->uid = uid;
	return peer_uid_groups(ret);
}

/* ---- queries ---- */

bool
peer_in_group(const struct peer_id *p, gid_t gid)
{
	if (!p->uid_known || gid == (gid_t)-1)
		return false;
	if (p->gid == gid)
		return true;
	for (size_t i = 0; i < p->n_groups; i++)
		if (p->groups[i] == gid)
			return true;
	return false;
}

bool
peer_in_cgroup(const struct peer_id *p, const char *prefix)
{
	size_t n = strlen(prefix);

	if (p->cgroup[0] != '/' || prefix[0] != '/')
		return false;
	while (n > 0 && prefix[n - 1] == '/')
		n--; /* "/a/" is "/a"; "/" is the root, below which all lie */
	if (strncmp(p->cgroup, prefix, n) != 0)
		return false;
	return p->cgroup[n] == '\0' || p->cgroup[n] == '/';
}

static const char *const peer_source_name[] = {
	[PEER_NONE] = "unknown",
	[PEER_UNIX] = "unix",
	[PEER_TCP_LOOPBACK] = "tcp",
	[PEER_TCP_REMOTE] = "tcp-remote",
};

void
peer_describe(const struct peer_id *p, char *buf, size_t cap)
{
	size_t off = 0;
	int n;

#define PUT(...)                                                                                   \
	do {                                                                                       \
		n = snprintf(buf + off, cap - off, __VA_ARGS__);                                   \
		if (n < 0 || (size_t)n >= cap - off)                                               \
			return;                                                                    \
		off += (size_t)n;                                                                  \
	} while (0)

	if (cap == 0)
		return;
	buf[0] = '\0';
	PUT("%s", (size_t)p->source < ARRAY_SIZE(peer_source_name)
			  ? peer_source_name[p->source]
			  : "?");
	if (p->addr[0] != '\0')
		PUT(" %s -> %s", p->addr, p->local);
	if (p->uid_known)
		PUT(" uid %u", (unsigned)p->uid);
	else if (p->source != PEER_TCP_REMOTE)
		PUT(" uid ?");
	if (p->gid != (gid_t)-1)
		PUT(" gid %u", (unsigned)p->gid);
	if (p->pid > 0)
		PUT(" pid %d", (int)p->pid);
	if (p->cgroup[0] != '\0') {
		PUT(" cgroup ");
		/* a delegated user names its cgroups: no control bytes into logs */
		for (const char *s = p->cgroup; *s != '\0' && off + 1 < cap; s++)
			buf[off++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
		buf[off] = '\0';
	}
#undef PUT
}
