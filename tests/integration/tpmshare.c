/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tpmshare: one swtpm shared by several programs the way /dev/tpm0 is
 * shared by the broker, the kernel and /dev/tpmrm0 users: no resource
 * manager, no virtual handles, whole commands in turn.  swtpm serves one
 * data connection at a time; this holds that one and lets any number of
 * clients (the broker, tpm2-tools with -T swtpm:port=PORT) send commands
 * over it.  The control port (PORT+1) is passed through to swtpm's, one
 * forked pump per connection (tpm2-tss's swtpm TCTI sets the locality
 * there when it starts).
 *
 *   tpmshare SWTPM_PORT PORT     serves until killed
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define BUF_MAX 8192

static int
tcp_listen(unsigned port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0) {
		perror("tpmshare: listen");
		exit(1);
	}
	return fd;
}

static int
tcp_connect(unsigned port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int
read_full(int fd, uint8_t *b, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, b + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int
write_full(int fd, const uint8_t *b, size_t n)
{
	size_t put = 0;

	while (put < n) {
		ssize_t r = write(fd, b + put, n - put);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		put += (size_t)r;
	}
	return 0;
}

/* A TPM message (command or response): header, then the size it gives. */
static int
read_msg(int fd, uint8_t *b, size_t *len)
{
	uint32_t size;

	if (read_full(fd, b, 10) < 0)
		return -1;
	size = (uint32_t)b[2] << 24 | (uint32_t)b[3] << 16 | (uint32_t)b[4] << 8 | b[5];
	if (size < 10 || size > BUF_MAX)
		return -1;
	if (read_full(fd, b + 10, size - 10) < 0)
		return -1;
	*len = size;
	return 0;
}

/* Pass one control connection through to swtpm's, both ways, until either closes. */
static void
pump(int a, unsigned up_port)
{
	uint8_t buf[4096];
	int b = tcp_connect(up_port);
	struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};

	if (b < 0)
		_exit(1);
	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			_exit(1);
		for (int i = 0; i < 2; i++) {
			ssize_t n;
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n <= 0 || write_full(p[1 - i].fd, buf, (size_t)n) < 0)
				_exit(0);
		}
	}
}

int
main(int argc, char **argv)
{
	static uint8_t buf[BUF_MAX];
	struct pollfd p[2 + MAX_CLIENTS];
	unsigned up_port, port;
	int up, n = 2;

	if (argc != 3) {
		fprintf(stderr, "usage: tpmshare SWTPM_PORT PORT\n");
		return 2;
	}
	up_port = (unsigned)atoi(argv[1]);
	port = (unsigned)atoi(argv[2]);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_IGN); /* pumps reaped by the kernel */
	if ((up = tcp_connect(up_port)) < 0) {
		perror("tpmshare: swtpm");
		return 1;
	}
	p[0] = (struct pollfd){.fd = tcp_listen(port), .events = POLLIN};
	p[1] = (struct pollfd){.fd = tcp_listen(port + 1), .events = POLLIN};
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if (poll(p, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (p[0].revents & POLLIN) {
			int fd = accept4(p[0].fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0 && n < 2 + MAX_CLIENTS)
				p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
			else if (fd >= 0)
				close(fd);
		}
		if (p[1].revents & POLLIN) {
			int fd = accept4(p[1].fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0 && fork() == 0)
				pump(fd, up_port + 1);
			if (fd >= 0)
				close(fd);
		}
		for (int i = 2; i < n; i++) {
			size_t len;

			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			/* one whole command, its whole answer: the TPM runs one at a time */
			if (read_msg(p[i].fd, buf, &len) == 0) {
				if (write_full(up, buf, len) < 0 || read_msg(up, buf, &len) < 0) {
					fprintf(stderr, "tpmshare: swtpm went away\n");
					return 1;
				}
				if (write_full(p[i].fd, buf, len) == 0)
					continue;
			}
			close(p[i].fd);
			p[i--] = p[--n];
		}
	}
}
