/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pingpong: the floor under a broker's CPU per command on this machine.
 * Two processes bounce a 10-byte message over a Unix socketpair N times;
 * each reports its own CPU (getrusage) per round trip.  A broker command
 * is two such round trips (client <-> broker, broker <-> TPM), so twice the
 * "server" figure is about the least a pass-through command can cost the
 * broker in system calls and wake-ups alone.
 *
 *   pingpong [-n ROUNDS] [-e] [-t] [-r] [-w USEC]
 *
 * -e: the server waits in epoll_wait() and reads with read(), as the
 * daemon's loop does, instead of a blocking read().  -t: over TCP on
 * loopback (TCP_NODELAY) instead, as the daemon talks to swtpm.
 * -r: three processes, as a pass-through command runs: the client talks
 * to a relay over a Unix socketpair, the relay (one epoll loop, like the
 * daemon's: read the client, send to the server, wait, read the answer,
 * send it back) to an echo server over TCP on loopback; the relay's line is
 * the floor of a pass-through command with nothing but the system calls.  Prints one line per
 * side: "client|server us_per_roundtrip user sys".  Measures; asserts
 * nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG 10

static double
tv_us(struct timeval tv)
{
	return (double)tv.tv_sec * 1e6 + (double)tv.tv_usec;
}

static void
report(const char *who, long n, double wall_s)
{
	struct rusage ru;

	(void)getrusage(RUSAGE_SELF, &ru);
	printf("%s %.2f us/roundtrip (user %.2f, sys %.2f)", who,
	       (tv_us(ru.ru_utime) + tv_us(ru.ru_stime)) / (double)n, tv_us(ru.ru_utime) / (double)n,
	       tv_us(ru.ru_stime) / (double)n);
	if (wall_s > 0)
		printf(", %.0f roundtrips/s", (double)n / wall_s);
	printf("\n");
	fflush(stdout);
}

static long think_us; /* -w */

/* The client's work between two round trips. */
static void
think(void)
{
	struct timespec t0, t;

	if (think_us <= 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000 < think_us);
}

static int
read_full(int fd, char *buf)
{
	size_t got = 0;

	while (got < MSG) {
		ssize_t r = read(fd, buf + got, MSG - got);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0)
			return 0;
		else if (errno != EINTR && errno != EAGAIN)
			return -1;
	}
	return 1;
}

static void
server(int fd, long n, int use_epoll)
{
	char buf[MSG];
	int ep = -1;
	struct epoll_event ev = {.events = EPOLLIN}, out;

	if (use_epoll) {
		ep = epoll_create1(0);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			exit(1);
	}
	for (long i = 0; i < n; i++) {
		if (use_epoll && epoll_wait(ep, &out, 1, -1) != 1)
			exit(1);
		if (read_full(fd, buf) <= 0)
			exit(1);
		if (send(fd, buf, MSG, MSG_NOSIGNAL) != MSG)
			exit(1);
	}
	report(use_epoll ? "server(epoll)" : "server", n, 0.0);
	exit(0);
}

/* -r: between the client (cfd) and an echo server (sfd), as the daemon's loop would. */
static void
relay(int cfd, int sfd, long n)
{
	char buf[MSG];
	int ep = epoll_create1(0);
	struct epoll_event c = {.events = EPOLLIN, .data.fd = cfd},
			   s = {.events = EPOLLIN, .data.fd = sfd}, out;

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &c) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &s) < 0)
		exit(1);
	for (long i = 0; i < n; i++) {
		if (epoll_wait(ep, &out, 1, -1) != 1 || out.data.fd != cfd || read_full(cfd, buf) <= 0 ||
		    send(sfd, buf, MSG, MSG_NOSIGNAL) != MSG)
			exit(1);
		if (epoll_wait(ep, &out, 1, -1) != 1 || out.data.fd != sfd || read_full(sfd, buf) <= 0 ||
		    send(cfd, buf, MSG, MSG_NOSIGNAL) != MSG)
			exit(1);
	}
	report("relay(epoll)", n, 0.0);
	exit(0);
}

/* A connected TCP pair on loopback, like socketpair(). */
static int
tcp_pair(int sv[2])
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &alen) < 0)
		return -1;
	if ((sv[0] = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(sv[0], (struct sockaddr *)&a, sizeof(a)) < 0 || (sv[1] = accept(l, NULL, NULL)) < 0)
		return -1;
	close(l);
	(void)setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(sv[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

int
main(int argc, char **argv)
{
	long n = 200000;
	int use_epoll = 0, use_tcp = 0, use_relay = 0, sv[2], tv[2], opt, st;
	char buf[MSG] = "ping12345";
	struct timespec t0, t1;
	pid_t pid;

	while ((opt = getopt(argc, argv, "n:etrw:")) != -1) {
		if (opt == 'n')
			n = strtol(optarg, NULL, 10);
		else if (opt == 'w')
			think_us = strtol(optarg, NULL, 10);
		else if (opt == 'e')
			use_epoll = 1;
		else if (opt == 't')
			use_tcp = 1;
		else if (opt == 'r')
			use_relay = 1;
		else {
			fprintf(stderr, "usage: pingpong [-n ROUNDS] [-e] [-t] [-r] [-w USEC]\n");
			return 2;
		}
	}
	if (n <= 0)
		return 2;
	if (use_relay) {
		pid_t echo, rel;

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || tcp_pair(tv) < 0)
			return 1;
		if ((echo = fork()) == 0) {
			close(sv[0]);
			close(sv[1]);
			close(tv[0]);
			server(tv[1], n, 0); /* a blocking echo, like swtpm */
		}
		if ((rel = fork()) == 0) {
			close(sv[0]);
			close(tv[1]);
			relay(sv[1], tv[0], n);
		}
		if (echo < 0 || rel < 0)
			return 1;
		close(sv[1]);
		close(tv[0]);
		close(tv[1]);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (long i = 0; i < n; i++) {
			think();
			if (send(sv[0], buf, MSG, MSG_NOSIGNAL) != MSG || read_full(sv[0], buf) <= 0)
				return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		report("client", n,
		       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		waitpid(rel, &st, 0);
		waitpid(echo, NULL, 0);
		return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
	}
	if ((use_tcp ? tcp_pair(sv) : socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) < 0)
		return 1;
	if ((pid = fork()) < 0)
		return 1;
	if (pid == 0) {
		close(sv[0]);
		server(sv[1], n, use_epoll);
	}
	close(sv[1]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++) {
		think();
		if (send(sv[0], buf, MSG, MSG_NOSIGNAL) != MSG || read_full(sv[0], buf) <= 0)
			return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	report("client", n,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
