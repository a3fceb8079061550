// SPDX-License-Identifier: Apache-2.0
/*
 * loadgen: one load generator of the saturated-core benchmarks (bench/saturate.ts starts as
 * many as the machine has cores). Each is a single thread in a tight loop, so the cores stay
 * busy and what the BPF programs cost shows up as operations lost, not as idle time used up.
 *
 *   loadgen stream SECONDS CHUNK   a loopback TCP connection to itself: non-blocking writes of
 *                                  CHUNK bytes at one end, reads of what arrived at the other
 *                                  (op = one byte received)
 *   loadgen churn SECONDS          connect to its own listener on 127.0.0.1, accept, 64-byte
 *                                  request and answer, the server closes first, then the client
 *                                  (op = one connection; the server side keeps the TIME_WAIT,
 *                                  so client ports are free again at once)
 *   loadgen exec SECONDS PATH      fork, exec PATH (no arguments), wait (op = one exec)
 *   loadgen udp SECONDS SIZE       an unconnected UDP socket sends SIZE-byte datagrams with
 *                                  sendto to its own UDP socket on 127.0.0.1, which reads each
 *                                  with recvfrom (op = one datagram sent and received): the
 *                                  per-datagram path of QUIC, DNS and other UDP traffic
 *
 * Protocol: after setting up it prints "ready" and waits for one byte on stdin, then runs for
 * SECONDS and prints one JSON line: ops, seconds (monotonic), and its CPU time (its own and its
 * children's, getrusage). Errors go to stderr with exit code 1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double tv_s(struct timeval tv)
{
	return tv.tv_sec + tv.tv_usec / 1e6;
}

/* A listening socket on 127.0.0.1 with a port the kernel chose; `addr` gets its address. */
static int listen_loopback(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int one = 1;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (l < 0)
		die("socket");
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(l, (struct sockaddr *)addr, sizeof(*addr)) < 0)
		die("bind 127.0.0.1");
	if (listen(l, 128) < 0)
		die("listen");
	if (getsockname(l, (struct sockaddr *)addr, &len) < 0)
		die("getsockname");
	return l;
}

/* Read exactly `n` bytes (blocking socket). */
static void read_full(int fd, char *buf, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, buf, n);

		if (r <= 0)
			die(r == 0 ? "read: peer closed" : "read");
		buf += r;
		n -= (size_t)r;
	}
}

/* When the start byte came: the run's seconds count from here. */
static double t_go;

static void wait_for_go(void)
{
	char c;

	printf("ready\n");
	fflush(stdout);
	if (read(0, &c, 1) != 1)
		die("waiting for the start byte on stdin");
	t_go = now_s();
}

static uint64_t run_stream(double seconds, size_t chunk)
{
	struct sockaddr_in addr;
	int l = listen_loopback(&addr);
	int a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int b;
	char *wbuf = malloc(chunk);
	size_t rsize = 4 * chunk;
	char *rbuf = malloc(rsize);
	uint64_t bytes = 0;
	unsigned n = 0;
	double end;

	if (a < 0 || !wbuf || !rbuf)
		die("stream setup");
	memset(wbuf, 'x', chunk);
	if (connect(a, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("connect");
	b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (b < 0)
		die("accept");
	if (fcntl(a, F_SETFL, O_NONBLOCK) < 0 || fcntl(b, F_SETFL, O_NONBLOCK) < 0)
		die("fcntl O_NONBLOCK");
	wait_for_go();
	end = t_go + seconds;
	for (;;) {
		ssize_t w = write(a, wbuf, chunk);
		ssize_t r;

		if (w < 0 && errno != EAGAIN)
			die("write");
		r = read(b, rbuf, rsize);
		if (r > 0)
			bytes += (uint64_t)r;
		else if (r == 0 || errno != EAGAIN)
			die("read");
		if ((++n & 63) == 0 && now_s() >= end)
			break;
	}
	close(a);
	close(b);
	close(l);
	return bytes;
}

static uint64_t run_churn(double seconds)
{
	struct sockaddr_in addr;
	int l = listen_loopback(&addr);
	char req[64], resp[64], buf[64];
	uint64_t conns = 0;
	double end;

	memset(req, 'q', sizeof(req));
	memset(resp, 'r', sizeof(resp));
	wait_for_go();
	end = t_go + seconds;
	do {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int s;

		if (c < 0)
			die("socket");
		if (connect(c, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			die("connect");
		s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (s < 0)
			die("accept");
		if (write(c, req, sizeof(req)) != sizeof(req))
			die("write request");
		read_full(s, buf, sizeof(buf));
		if (write(s, resp, sizeof(resp)) != sizeof(resp))
			die("write response");
		read_full(c, buf, sizeof(buf));
		close(s);
		close(c);
		conns++;
	} while ((conns & 15) != 0 || now_s() < end);
	close(l);
	return conns;
}

static uint64_t run_udp(double seconds, size_t size)
{
	struct sockaddr_in addr, from;
	socklen_t len = sizeof(addr);
	int r = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	char *buf = malloc(size);
	uint64_t dgrams = 0;
	double end;

	if (r < 0 || s < 0 || !buf)
		die("udp setup");
	memset(buf, 'u', size);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(r, (struct sockaddr *)&addr, sizeof(addr)) < 0 || getsockname(r, (struct sockaddr *)&addr, &len) < 0)
		die("bind udp 127.0.0.1");
	wait_for_go();
	end = t_go + seconds;
	do {
		socklen_t flen = sizeof(from);

		if (sendto(s, buf, size, 0, (struct sockaddr *)&addr, sizeof(addr)) != (ssize_t)size)
			die("sendto");
		if (recvfrom(r, buf, size, 0, (struct sockaddr *)&from, &flen) != (ssize_t)size)
			die("recvfrom");
		dgrams++;
	} while ((dgrams & 63) != 0 || now_s() < end);
	close(r);
	close(s);
	return dgrams;
}

static uint64_t run_exec(double seconds, const char *path)
{
	char *const argv[] = {(char *)path, NULL};
	char *const envp[] = {NULL};
	uint64_t execs = 0;
	double end;

	if (access(path, X_OK) < 0)
		die(path);
	wait_for_go();
	end = t_go + seconds;
	do {
		int status;
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			execve(path, argv, envp);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0)
			die("waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status) == 127) {
			errno = ENOEXEC;
			die(path);
		}
		execs++;
	} while (now_s() < end);
	return execs;
}

int main(int argc, char **argv)
{
	struct rusage self, children;
	double seconds;
	uint64_t ops;

	if (argc < 3 || (seconds = atof(argv[2])) <= 0) {
		fprintf(stderr, "usage: loadgen stream SECONDS CHUNK | churn SECONDS | exec SECONDS PATH | udp SECONDS SIZE\n");
		return 2;
	}
	if (strcmp(argv[1], "stream") == 0 && argc == 4 && atoi(argv[3]) > 0) {
		ops = run_stream(seconds, (size_t)atoi(argv[3]));
	} else if (strcmp(argv[1], "churn") == 0 && argc == 3) {
		ops = run_churn(seconds);
	} else if (strcmp(argv[1], "exec") == 0 && argc == 4) {
		ops = run_exec(seconds, argv[3]);
	} else if (strcmp(argv[1], "udp") == 0 && argc == 4 && atoi(argv[3]) > 0 && atoi(argv[3]) <= 65507) {
		ops = run_udp(seconds, (size_t)atoi(argv[3]));
	} else {
		fprintf(stderr, "loadgen: unknown mode or arguments (stream SECONDS CHUNK | churn SECONDS | exec SECONDS PATH | udp SECONDS SIZE)\n");
		return 2;
	}
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &children);
	printf("{\"ops\":%llu,\"seconds\":%.6f,\"user\":%.6f,\"system\":%.6f}\n", (unsigned long long)ops, now_s() - t_go,
	       tv_s(self.ru_utime) + tv_s(children.ru_utime), tv_s(self.ru_stime) + tv_s(children.ru_stime));
	return 0;
}
