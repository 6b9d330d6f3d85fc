/* See LICENSE file for copyright and license details. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* strerror_r is XSI (int) in musl and GNU (char *) in glibc */
static const char *xsi_err(int r, char *buf) { return r ? "unknown error" : buf; }
static const char *gnu_err(char *r, char *buf) { (void)buf; return r; }
#define ERRSTR(e, b, n) _Generic(strerror_r((e), (b), (n)), int: xsi_err, \
                                 default: gnu_err)(strerror_r((e), (b), (n)), (b))

const char *
errstr(int e, char *buf, size_t n)
{
	return ERRSTR(e, buf, n);
}

static void
vmsg(const char *fmt, va_list ap)
{
	char buf[1024], eb[128];
	int e = errno, n;
	size_t len = strlen(fmt);

	n = snprintf(buf, sizeof(buf), "prescal: ");
	n += vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	if (len && fmt[len - 1] == ':') {
		const char *s = errstr(e, eb, sizeof(eb));
		n += snprintf(buf + n, sizeof(buf) - n, " %s", s);
		if (n > (int)sizeof(buf) - 2)
			n = sizeof(buf) - 2;
	}
	buf[n++] = '\n';
	(void)!write(2, buf, n);
	errno = e;
}

_Noreturn void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	exit(1);
}

void
warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
writeall(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	ssize_t r;

	while (n > 0) {
		r = send(fd, p, n, MSG_NOSIGNAL);
		if (r < 0 && errno == ENOTSOCK)
			r = write(fd, p, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= r;
	}
	return 0;
}

int
sock_timeouts(int fd, int rcv_ms, int snd_ms)
{
	struct timeval tv;

	if (rcv_ms > 0) {
		tv.tv_sec = rcv_ms / 1000;
		tv.tv_usec = (rcv_ms % 1000) * 1000L;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
			return -1;
	}
	if (snd_ms > 0) {
		tv.tv_sec = snd_ms / 1000;
		tv.tv_usec = (snd_ms % 1000) * 1000L;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
			return -1;
	}
	return 0;
}

int
split_hostport(const char *s, const char *defhost, char *host, size_t hn,
               char *port, size_t pn)
{
	const char *colon, *h = defhost;
	size_t hl = strlen(defhost);
	char *end;
	long v;

	if (s[0] == '[') {
		/* [v6]:port */
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':')
			return -1;
		h = s + 1;
		hl = rb - h;
		colon = rb + 1;
	} else if ((colon = strrchr(s, ':'))) {
		if (memchr(s, ':', colon - s))
			return -1;  /* bare v6 needs brackets */
		h = s;
		hl = colon - s;
	} else {
		colon = s - 1;
	}
	if (hl == 0) {
		h = defhost;
		hl = strlen(defhost);
	}
	if (hl >= hn || strlen(colon + 1) >= pn || !colon[1])
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	memcpy(port, colon + 1, strlen(colon + 1) + 1);
	errno = 0;
	v = strtol(port, &end, 10);
	if (*end || errno || v < 1 || v > 65535 || port[0] < '0' || port[0] > '9')
		return -1;
	return 0;
}

int
resolve_addr(const char *hostport, const char *defhost, struct sockaddr_storage *ss,
             socklen_t *sslen, const char **msg)
{
	struct addrinfo hints, *ai;
	char host[256], port[16];
	int r;

	if (split_hostport(hostport, defhost, host, sizeof(host), port, sizeof(port)) < 0) {
		*msg = "expected [host:]port with a port in 1..65535";
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((r = getaddrinfo(host, port, &hints, &ai)) != 0) {
		*msg = gai_strerror(r);
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sslen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int
listen_tcp(const struct sockaddr_storage *ss, socklen_t sslen, int backlog)
{
	int fd, one = 1;

	if ((fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, sslen) < 0 || listen(fd, backlog) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
connect_tcp(const struct sockaddr_storage *ss, socklen_t sslen, int timeout_ms)
{
	struct pollfd pfd;
	socklen_t el = sizeof(int);
	int fd, one = 1, err = 0, r;

	if ((fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)ss, sslen) < 0) {
		if (errno != EINPROGRESS)
			goto fail;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		do
			r = poll(&pfd, 1, timeout_ms);
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			goto fail;
		if (err) {
			errno = err;
			goto fail;
		}
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
		goto fail;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

char *
addr_str(const struct sockaddr_storage *ss, char *buf, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
		snprintf(buf, n, "%s:%d", ip, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
		snprintf(buf, n, "[%s]:%d", ip, port);
	} else {
		snprintf(buf, n, "?");
	}
	return buf;
}

int
parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

void
buf_addn(struct buf *b, const char *s, size_t n)
{
	if (b->over || n > b->cap - b->len) {
		b->over = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

void
buf_add(struct buf *b, const char *s)
{
	buf_addn(b, s, strlen(s));
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->over)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len)
		b->over = 1;
	else
		b->len += n;
}

int
name_valid_char(int c)
{
	return c && strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", c);
}

int
name_valid(const char *s, size_t max)
{
	size_t i;

	if (!s || !name_valid_char(s[0]) || s[0] == '_' || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 1; s[i]; i++)
		if (i >= max || !name_valid_char(s[i]))
			return 0;
	return 1;
}
