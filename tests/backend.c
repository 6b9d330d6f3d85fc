/* See LICENSE file for copyright and license details. */
/* backend: a small HTTP/1.1 origin server, the backend of prescal's
 * integration tests and the program in the demo image. One thread per
 * connection; keep-alive and pipelining; request bodies framed by
 * Content-Length or chunked. libc and pthreads only, so it links statically
 * with musl into a FROM scratch image.
 *
 * usage: backend [-p port] [-r recordfile]   listen on 0.0.0.0:port
 *                                            (default $PORT, else 8080;
 *                                            recordfile default $RECORD)
 *        backend check [-p port]             exit 0 if GET /health on
 *                                            127.0.0.1 answers 200 within 1 s
 *
 * Routes, chosen by the first path segment (a query string is allowed):
 *   /, anything else   200 "hello from <hostname>\n"
 *   /name              200 "<$PRESCAL_INSTANCE or hostname>\n"
 *   /echo              200, body = raw request head + decoded body,
 *                      X-Body-Len: decoded body length
 *   /chunked?n=N&size=S  N chunks of S 'x' bytes, trailer X-Trailer: yes
 *   /big?bytes=N       N bytes of "abc..z" repeated, Content-Length
 *   /bigclose?bytes=N  the same, close-delimited (Connection: close)
 *   /sink              200 "<n> <fnv1a-64 hex>\n" over the request body
 *   /continue          "100 Continue" if asked for, then as /sink
 *   /slow?ms=N         wait N ms, then as /
 *   /status/NNN        answer NNN (200..599); 204/304 without body
 *   /ws                101 if Upgrade + Connection: upgrade, then echo
 *                      bytes until the peer closes; else 426
 *   /close             as /, then close the connection
 *   /hang              read until the peer closes, never answer
 *   /early103          103 Early Hints, then as /
 *   /health            200 "ok\n", or 503 once /sick was asked (check)
 *   /sick              200; from now on /health answers 503, so the image's
 *                      HEALTHCHECK fails while every other route still works
 * HEAD works on every route: the headers of the GET, no body. With
 * $BOOT_MS it waits that many milliseconds before it listens (a slow boot). With a
 * record file, every byte received on every connection is appended to it.
 * SIGTERM and SIGINT exit 0 at once.
 *
 * Knobs for images that fail to start (prescal's fail_test):
 *   FAIL_EXIT=N        print a line to stdout and one to stderr, exit N
 *   NO_LISTEN=1        print a line, then never listen (until SIGTERM) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUFSZ     65536           /* read buffer per connection = head limit */
#define TARGETSZ  8192            /* longest request target, else 414 */
#define ECHOMAX   (64u << 20)     /* largest body /echo sends back, else 413 */
#define PATSZ     (26 * 2520)     /* whole periods of a..z, so /big streams */
#define STACKSZ   (256 * 1024)    /* connection thread stack (musl's is small) */
#define LINGERMS  1000            /* wait for the peer's FIN before close() */
#define S(lit)    lit, sizeof(lit) - 1

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME  0x100000001b3ull

struct conn {
	int fd;
	size_t off, len;          /* unread bytes are buf[off..len) */
	char buf[BUFSZ];
	size_t headlen;           /* head of the current request, blank line */
	char head[BUFSZ];         /* included; parse results point into it */
};

struct req {
	const char *method;       /* into conn.head, mlen bytes */
	size_t mlen;
	char target[TARGETSZ];    /* NUL-terminated copy */
	int head;                 /* method is HEAD: no body in the answer */
	int http10;
	int keepalive;            /* handlers clear it to close afterwards */
	int connclose, connka, connupgrade;   /* Connection tokens */
	int chunked;              /* Transfer-Encoding ends in chunked */
	int hasclen;
	uint64_t clen;
	int expect100;
	char upgrade[128];        /* Upgrade value, "" if none */
};

struct body {
	int chunked, started, done;
	uint64_t left;            /* bytes left in the body or current chunk */
};

struct route {
	const char *name;
	int (*fn)(struct conn *, struct req *);
};

/* set in main() before the first thread starts, read-only afterwards */
static char hostname[256] = "unknown";
static const char *instance;
static atomic_int sick;             /* /sick was asked: /health answers 503 */
static int recfd = -1;
static char pattern[PATSZ];       /* a..z repeated */
static char xs[PATSZ];            /* 'x' repeated */

static void
msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int
sendf(int fd, const char *p, size_t n, int flags)
{
	ssize_t k;

	while (n > 0) {
		k = send(fd, p, n, MSG_NOSIGNAL | flags);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int
sendall(int fd, const char *p, size_t n)
{
	return sendf(fd, p, n, 0);
}

/* send n bytes taken from buf over and over; bufsz is whole periods */
static int
stream(int fd, const char *buf, size_t bufsz, uint64_t n)
{
	size_t k;

	for (; n > 0; n -= k) {
		k = n < bufsz ? (size_t)n : bufsz;
		if (sendall(fd, buf, k) < 0)
			return -1;
	}
	return 0;
}

static void
record(const char *p, size_t n)
{
	ssize_t k;

	/* O_APPEND: each write lands whole, even from several threads */
	while (recfd >= 0 && n > 0) {
		k = write(recfd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		p += k;
		n -= (size_t)k;
	}
}

/* read more into c->buf; bytes read, 0 at EOF, -1 on error, -2 if full */
static ssize_t
fill(struct conn *c)
{
	ssize_t n;

	if (c->off == c->len) {
		c->off = c->len = 0;
	} else if (c->len == sizeof(c->buf)) {
		if (c->off == 0)
			return -2;
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	do
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		record(c->buf + c->len, (size_t)n);
		c->len += (size_t)n;
	}
	return n;
}

/* one line without its CRLF (or LF) into *line; 0, or -1 */
static int
getline_c(struct conn *c, const char **line, size_t *n)
{
	char *p;
	size_t k;

	for (;;) {
		p = memchr(c->buf + c->off, '\n', c->len - c->off);
		if (p) {
			k = (size_t)(p - (c->buf + c->off));
			*line = c->buf + c->off;
			*n = k > 0 && p[-1] == '\r' ? k - 1 : k;
			c->off += k + 1;
			return 0;
		}
		if (fill(c) <= 0)
			return -1;
	}
}

/* length of the head up to and including its blank line, or 0 */
static size_t
headend(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 < n && p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* the next request head into c->head; 0, -1 if the connection ended, or an
 * HTTP status to answer before closing */
static int
readhead(struct conn *c)
{
	size_t end;
	ssize_t n;

	for (;;) {
		/* RFC 9112 2.2: ignore empty lines before a request line */
		while (c->off < c->len && (c->buf[c->off] == '\r' || c->buf[c->off] == '\n'))
			c->off++;
		if ((end = headend(c->buf + c->off, c->len - c->off)) > 0)
			break;
		if ((n = fill(c)) == -2)
			return 431;
		if (n <= 0)
			return -1;
	}
	memcpy(c->head, c->buf + c->off, end);
	c->headlen = end;
	c->off += end;
	return 0;
}

static int
istchar(int ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= 'A' && ch <= 'Z') || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int
istoken(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!istchar((unsigned char)p[i]))
			return 0;
	return n > 0;
}

static int
lieq(const char *p, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(p, lit, n) == 0;
}

/* calls fn for each trimmed element of a comma-separated list */
static void
eachtoken(const char *v, size_t n, struct req *r,
          void (*fn)(struct req *, const char *, size_t))
{
	const char *e, *end = v + n;
	size_t k;

	while (v < end) {
		while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		e = memchr(v, ',', (size_t)(end - v));
		e = e ? e : end;
		for (k = (size_t)(e - v); k > 0 && (v[k - 1] == ' ' || v[k - 1] == '\t'); k--)
			;
		if (k > 0)
			fn(r, v, k);
		v = e;
	}
}

static void
conntoken(struct req *r, const char *t, size_t n)
{
	r->connclose |= lieq(t, n, "close");
	r->connka |= lieq(t, n, "keep-alive");
	r->connupgrade |= lieq(t, n, "upgrade");
}

static void
tetoken(struct req *r, const char *t, size_t n)
{
	r->chunked = lieq(t, n, "chunked");   /* only the last one counts */
}

/* one header field; 0 or 400 */
static int
header(struct req *r, const char *name, size_t nn, const char *v, size_t vn)
{
	uint64_t x = 0;
	size_t i;

	if (lieq(name, nn, "content-length")) {
		if (vn == 0 || vn > 18)
			return 400;
		for (i = 0; i < vn; i++) {
			if (v[i] < '0' || v[i] > '9')
				return 400;
			x = x * 10 + (uint64_t)(v[i] - '0');
		}
		if (r->hasclen && r->clen != x)
			return 400;
		r->hasclen = 1;
		r->clen = x;
	} else if (lieq(name, nn, "transfer-encoding")) {
		r->chunked = 0;
		eachtoken(v, vn, r, tetoken);
		if (!r->chunked)
			return 400;   /* RFC 9112 6.3: no way to find the end */
	} else if (lieq(name, nn, "connection")) {
		eachtoken(v, vn, r, conntoken);
	} else if (lieq(name, nn, "upgrade")) {
		snprintf(r->upgrade, sizeof(r->upgrade), "%.*s", (int)vn, v);
	} else if (lieq(name, nn, "expect")) {
		r->expect100 = lieq(v, vn, "100-continue");
	}
	return 0;
}

/* the request line of c->head; 0 or an HTTP status */
static int
reqline(struct req *r, const char *p, size_t n)
{
	const char *sp1, *sp2, *v;
	size_t tn, i;

	if (!(sp1 = memchr(p, ' ', n)) || !(sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p))))
		return 400;
	r->method = p;
	r->mlen = (size_t)(sp1 - p);
	tn = (size_t)(sp2 - sp1 - 1);
	if (!istoken(p, r->mlen) || tn == 0)
		return 400;
	for (i = 0; i < tn; i++)
		if ((unsigned char)sp1[1 + i] <= ' ' || sp1[1 + i] == 0x7f)
			return 400;
	if (tn >= sizeof(r->target))
		return 414;
	memcpy(r->target, sp1 + 1, tn);
	r->target[tn] = '\0';
	v = sp2 + 1;
	if (p + n - v == 8 && !memcmp(v, "HTTP/1.1", 8))
		r->http10 = 0;
	else if (p + n - v == 8 && !memcmp(v, "HTTP/1.0", 8))
		r->http10 = 1;
	else if (p + n - v == 8 && !memcmp(v, "HTTP/", 5))
		return 505;
	else
		return 400;
	r->head = r->mlen == 4 && !memcmp(p, "HEAD", 4);
	return 0;
}

/* splits c->head into the request line and header fields; 0 or a status */
static int
parsehead(struct conn *c, struct req *r)
{
	const char *p = c->head, *end = c->head + c->headlen, *nl, *colon, *v;
	size_t n, i, vn;
	int st;

	memset(r, 0, sizeof(*r));
	for (st = -1; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)(nl - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (st < 0) {
			if ((st = reqline(r, p, n)) != 0)
				return st;
			continue;
		}
		if (n == 0)
			break;
		for (i = 0; i < n; i++)
			if (((unsigned char)p[i] < ' ' && p[i] != '\t') || p[i] == 0x7f)
				return 400;
		/* no obs-fold, no space before the colon (RFC 9112 5.1, 5.2) */
		if (!(colon = memchr(p, ':', n)) || !istoken(p, (size_t)(colon - p)))
			return 400;
		for (v = colon + 1; v < p + n && (*v == ' ' || *v == '\t'); v++)
			;
		for (vn = (size_t)(p + n - v); vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t'); vn--)
			;
		if ((st = header(r, p, (size_t)(colon - p), v, vn)) != 0)
			return st;
	}
	r->keepalive = r->http10 ? r->connka && !r->connclose : !r->connclose;
	/* RFC 9112 6.3: chunked overrides Content-Length, but close after */
	if (r->chunked && r->hasclen)
		r->keepalive = 0;
	return 0;
}

static void
bodyinit(struct body *b, const struct req *r)
{
	b->chunked = r->chunked;
	b->started = 0;
	b->left = r->chunked ? 0 : r->clen;
	b->done = !r->chunked && r->clen == 0;
}

/* size line of the next chunk; 0 or -1 */
static int
chunksize(struct conn *c, uint64_t *size)
{
	const char *line;
	size_t n, i;
	int d;

	if (getline_c(c, &line, &n) < 0)
		return -1;
	*size = 0;
	for (i = 0; i < n; i++) {
		if (line[i] >= '0' && line[i] <= '9')
			d = line[i] - '0';
		else if ((line[i] | 0x20) >= 'a' && (line[i] | 0x20) <= 'f')
			d = (line[i] | 0x20) - 'a' + 10;
		else
			break;
		if (i >= 15)
			return -1;
		*size = *size << 4 | (uint64_t)d;
	}
	/* anything after the digits must be chunk extensions */
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i == 0 || (i < n && line[i] != ';') ? -1 : 0;
}

/* the next piece of the body, pointing into c->buf: 1, 0 at its end, or -1
 * on bad framing or a closed connection */
static int
bodynext(struct conn *c, struct body *b, const char **p, size_t *n)
{
	const char *line;
	size_t k;

	if (b->done)
		return 0;
	if (b->left == 0) {
		if (!b->chunked)
			return b->done = 1, 0;
		if (b->started && (getline_c(c, &line, &k) < 0 || k != 0))
			return -1;
		b->started = 1;
		if (chunksize(c, &b->left) < 0)
			return -1;
		if (b->left == 0) {
			/* trailer section, up to the blank line */
			do
				if (getline_c(c, &line, &k) < 0)
					return -1;
			while (k != 0);
			return b->done = 1, 0;
		}
	}
	if (c->off == c->len && fill(c) <= 0)
		return -1;
	k = c->len - c->off;
	if (k > b->left)
		k = (size_t)b->left;
	*p = c->buf + c->off;
	*n = k;
	c->off += k;
	b->left -= k;
	return 1;
}

/* reads and drops the request body; 0 or -1 */
static int
drain(struct conn *c, const struct req *r)
{
	struct body b;
	const char *p;
	size_t n;
	int rc;

	bodyinit(&b, r);
	while ((rc = bodynext(c, &b, &p, &n)) > 0)
		;
	return rc;
}

static const char *
reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 103: return "Early Hints";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 205: return "Reset Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default:  return "Status";
	}
}

/* formats the status line and headers into h; clen < 0: no Content-Length.
 * extra is preformatted header lines. Returns the length or -1. */
static int
fmthead(char *h, size_t cap, const struct req *r, int status, int64_t clen, const char *extra)
{
	char cl[40] = "";
	const char *conn = !r->keepalive ? "Connection: close\r\n" :
	                   r->http10 ? "Connection: keep-alive\r\n" : "";
	int n;

	if (clen >= 0)
		snprintf(cl, sizeof(cl), "Content-Length: %lld\r\n", (long long)clen);
	n = snprintf(h, cap, "HTTP/1.1 %d %s\r\nServer: prescal-backend\r\n%s%s%s\r\n",
	             status, reason(status), cl, extra, conn);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* sends the status line and headers; more: a body follows at once */
static int
start(struct conn *c, const struct req *r, int status, int64_t clen,
      const char *extra, int more)
{
	char h[1024];
	int n = fmthead(h, sizeof(h), r, status, clen, extra);

	if (n < 0)
		return -1;
	return sendf(c->fd, h, (size_t)n, more && !r->head ? MSG_MORE : 0);
}

/* a whole answer with a Content-Length body; 0 to read the next request.
 * A small one goes out in one send, as a real server's would: a SIGTERM
 * (docker stop) then cannot cut it between its head and its body. */
static int
reply(struct conn *c, const struct req *r, int status, const char *body,
      size_t n, const char *extra)
{
	char b[1024 + 4096];
	int k = fmthead(b, 1024, r, status, (int64_t)n, extra);
	int apart = !r->head && n > 4096;  /* the body follows the head */

	if (k < 0)
		return -1;
	if (!r->head && !apart) {
		memcpy(b + k, body, n);
		k += (int)n;
	}
	if (sendf(c->fd, b, (size_t)k, apart ? MSG_MORE : 0) < 0)
		return -1;
	if (apart && sendall(c->fd, body, n) < 0)
		return -1;
	return r->keepalive ? 0 : -1;
}

static int
replytext(struct conn *c, struct req *r, int status, const char *text)
{
	return reply(c, r, status, text, strlen(text), "Content-Type: text/plain\r\n");
}

/* a bad body: answer 400 and close */
static int
bad(struct conn *c, struct req *r)
{
	r->keepalive = 0;
	replytext(c, r, 400, "bad request\n");
	return -1;
}

/* an error found in the head, before a request could be formed */
static void
headerror(struct conn *c, int status)
{
	char h[256];
	int n;

	n = snprintf(h, sizeof(h), "HTTP/1.1 %d %s\r\nServer: prescal-backend\r\n"
	             "Content-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\n%d\n",
	             status, reason(status), status);
	sendall(c->fd, h, (size_t)n);
}

/* the decimal value of key in the query string of target: 0 with def if
 * absent, -1 if malformed or above max */
static int
qnum(const char *target, const char *key, uint64_t def, uint64_t max, uint64_t *v)
{
	const char *p = strchr(target, '?'), *e;
	size_t kl = strlen(key);
	uint64_t x;

	*v = def;
	for (p = p ? p + 1 : ""; *p; p = *e ? e + 1 : e) {
		e = p + strcspn(p, "&#");
		if (strncmp(p, key, kl) != 0 || p[kl] != '=')
			continue;
		if (e == p + kl + 1)
			return -1;
		for (x = 0, p += kl + 1; p < e; p++) {
			if (*p < '0' || *p > '9' || x > (max - (uint64_t)(*p - '0')) / 10)
				return -1;
			x = x * 10 + (uint64_t)(*p - '0');
		}
		*v = x;
		return 0;
	}
	return 0;
}

static int
hello(struct conn *c, struct req *r)
{
	char body[300];

	snprintf(body, sizeof(body), "hello from %s\n", hostname);
	return replytext(c, r, 200, body);
}

static int
r_hello(struct conn *c, struct req *r)
{
	return drain(c, r) < 0 ? bad(c, r) : hello(c, r);
}

static int
r_name(struct conn *c, struct req *r)
{
	char body[300];

	if (drain(c, r) < 0)
		return bad(c, r);
	snprintf(body, sizeof(body), "%s\n", instance ? instance : hostname);
	return replytext(c, r, 200, body);
}

static int
r_echo(struct conn *c, struct req *r)
{
	struct body b;
	const char *p;
	char *out, *t, extra[80];
	size_t n, len, cap;
	int rc;

	if (!r->chunked && r->clen > ECHOMAX)
		return r->keepalive = 0, replytext(c, r, 413, "too large\n"), -1;
	cap = c->headlen + (r->chunked ? 4096 : (size_t)r->clen);
	if (!(out = malloc(cap)))
		return -1;
	memcpy(out, c->head, c->headlen);
	len = c->headlen;
	bodyinit(&b, r);
	while ((rc = bodynext(c, &b, &p, &n)) > 0) {
		if (len + n - c->headlen > ECHOMAX)
			break;
		if (len + n > cap) {
			cap = cap * 2 > len + n ? cap * 2 : len + n;
			if (!(t = realloc(out, cap)))
				break;
			out = t;
		}
		memcpy(out + len, p, n);
		len += n;
	}
	if (rc == 0) {
		snprintf(extra, sizeof(extra), "Content-Type: application/octet-stream\r\n"
		         "X-Body-Len: %zu\r\n", len - c->headlen);
		rc = reply(c, r, 200, out, len, extra);
	} else {
		rc = rc > 0 ? (r->keepalive = 0, replytext(c, r, 413, "too large\n"), -1) : bad(c, r);
	}
	free(out);
	return rc;
}

static int
r_chunked(struct conn *c, struct req *r)
{
	uint64_t n, size, i;
	char h[40];
	int k;

	if (drain(c, r) < 0)
		return bad(c, r);
	if (qnum(r->target, "n", 4, 1u << 30, &n) < 0 ||
	    qnum(r->target, "size", 16, 1ull << 40, &size) < 0)
		return replytext(c, r, 400, "bad n or size\n");
	/* HTTP/1.0 has no chunked coding: delimit the body by closing */
	if (r->http10) {
		r->keepalive = 0;
		if (start(c, r, 200, -1, "Content-Type: text/plain\r\n", 0) < 0 || r->head)
			return -1;
		stream(c->fd, xs, sizeof(xs), n * size);
		return -1;
	}
	if (start(c, r, 200, -1, "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
	          "Trailer: X-Trailer\r\n", 1) < 0)
		return -1;
	if (r->head)
		return r->keepalive ? 0 : -1;
	for (i = 0; size > 0 && i < n; i++) {
		k = snprintf(h, sizeof(h), "%llx\r\n", (unsigned long long)size);
		if (sendf(c->fd, h, (size_t)k, MSG_MORE) < 0 || stream(c->fd, xs, sizeof(xs), size) < 0 ||
		    sendf(c->fd, S("\r\n"), MSG_MORE) < 0)
			return -1;
	}
	if (sendall(c->fd, S("0\r\nX-Trailer: yes\r\n\r\n")) < 0)
		return -1;
	return r->keepalive ? 0 : -1;
}

/* /big and /bigclose */
static int
big(struct conn *c, struct req *r, int closing)
{
	uint64_t n;

	if (drain(c, r) < 0)
		return bad(c, r);
	if (qnum(r->target, "bytes", 1024, INT64_MAX, &n) < 0)
		return replytext(c, r, 400, "bad bytes\n");
	if (closing)
		r->keepalive = 0;
	if (start(c, r, 200, closing ? -1 : (int64_t)n, "Content-Type: application/octet-stream\r\n", 1) < 0)
		return -1;
	if (!r->head && stream(c->fd, pattern, sizeof(pattern), n) < 0)
		return -1;
	return r->keepalive ? 0 : -1;
}

static int
r_big(struct conn *c, struct req *r)
{
	return big(c, r, 0);
}

static int
r_bigclose(struct conn *c, struct req *r)
{
	return big(c, r, 1);
}

static int
r_sink(struct conn *c, struct req *r)
{
	struct body b;
	const char *p;
	uint64_t total = 0, h = FNV_OFFSET;
	size_t n, i;
	char out[64];
	int rc;

	bodyinit(&b, r);
	while ((rc = bodynext(c, &b, &p, &n)) > 0) {
		for (i = 0; i < n; i++)
			h = (h ^ (unsigned char)p[i]) * FNV_PRIME;
		total += n;
	}
	if (rc < 0)
		return bad(c, r);
	snprintf(out, sizeof(out), "%llu %016llx\n", (unsigned long long)total, (unsigned long long)h);
	return replytext(c, r, 200, out);
}

static int
r_continue(struct conn *c, struct req *r)
{
	/* RFC 9110 10.1.1: only the /continue route answers Expect, so tests
	 * also have a backend that ignores it (every other route) */
	if (r->expect100 && !r->http10 && sendall(c->fd, S("HTTP/1.1 100 Continue\r\n\r\n")) < 0)
		return -1;
	return r_sink(c, r);
}

static int
r_slow(struct conn *c, struct req *r)
{
	uint64_t ms;

	if (drain(c, r) < 0)
		return bad(c, r);
	if (qnum(r->target, "ms", 1000, 3600000, &ms) < 0)
		return replytext(c, r, 400, "bad ms\n");
	msleep((long)ms);
	return hello(c, r);
}

static int
r_status(struct conn *c, struct req *r)
{
	const char *s = strstr(r->target, "/status/");
	char body[32];
	int code;

	if (drain(c, r) < 0)
		return bad(c, r);
	if (!s || strspn(s + 8, "0123456789") != 3 || (s[11] && s[11] != '?' && s[11] != '/') ||
	    (code = atoi(s + 8)) < 200 || code > 599)
		return replytext(c, r, 400, "want /status/200..599\n");
	if (code == 204 || code == 304) {
		if (start(c, r, code, -1, "", 0) < 0)
			return -1;
		return r->keepalive ? 0 : -1;
	}
	snprintf(body, sizeof(body), "status %d\n", code);
	return replytext(c, r, code, code == 205 ? "" : body);
}

static int
r_ws(struct conn *c, struct req *r)
{
	char h[300];
	int n;

	if (drain(c, r) < 0)
		return bad(c, r);
	if (!r->upgrade[0] || !r->connupgrade)
		return reply(c, r, 426, S("upgrade required\n"),
		             "Content-Type: text/plain\r\nUpgrade: websocket\r\n");
	n = snprintf(h, sizeof(h), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: %s\r\n"
	             "Connection: Upgrade\r\n\r\n", r->upgrade);
	if (sendall(c->fd, h, (size_t)n) < 0)
		return -1;
	/* echo everything that follows, beginning with what is buffered */
	do {
		if (c->off < c->len && sendall(c->fd, c->buf + c->off, c->len - c->off) < 0)
			break;
		c->off = c->len;
	} while (fill(c) > 0);
	return -1;
}

static int
r_close(struct conn *c, struct req *r)
{
	r->keepalive = 0;
	return r_hello(c, r);
}

static int
r_hang(struct conn *c, struct req *r)
{
	(void)r;
	do
		c->off = c->len;
	while (fill(c) > 0);
	return -1;
}

static int
r_early103(struct conn *c, struct req *r)
{
	if (drain(c, r) < 0)
		return bad(c, r);
	if (!r->http10 && sendall(c->fd, S("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")) < 0)
		return -1;
	return hello(c, r);
}

static int
r_health(struct conn *c, struct req *r)
{
	if (drain(c, r) < 0)
		return bad(c, r);
	return atomic_load(&sick) ? replytext(c, r, 503, "sick\n") : replytext(c, r, 200, "ok\n");
}

static int
r_sick(struct conn *c, struct req *r)
{
	if (drain(c, r) < 0)
		return bad(c, r);
	atomic_store(&sick, 1);
	return replytext(c, r, 200, "sick from now on\n");
}

static const struct route routes[] = {
	{ "name",     r_name },
	{ "echo",     r_echo },
	{ "chunked",  r_chunked },
	{ "big",      r_big },
	{ "bigclose", r_bigclose },
	{ "sink",     r_sink },
	{ "continue", r_continue },
	{ "slow",     r_slow },
	{ "status",   r_status },
	{ "ws",       r_ws },
	{ "close",    r_close },
	{ "hang",     r_hang },
	{ "early103", r_early103 },
	{ "health",   r_health },
	{ "sick",     r_sick },
};

/* the handler for the first path segment of target */
static int (*route(const char *t))(struct conn *, struct req *)
{
	size_t i, n;

	/* absolute-form (RFC 9112 3.2.2): skip scheme and authority */
	if (!strncasecmp(t, "http://", 7) || !strncasecmp(t, "https://", 8)) {
		t = strchr(t, ':') + 3;
		t += strcspn(t, "/?");
	}
	if (*t++ != '/')
		return r_hello;
	n = strcspn(t, "/?#");
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strlen(routes[i].name) == n && !strncmp(t, routes[i].name, n))
			return routes[i].fn;
	return r_hello;
}

/* half-close, then wait a little for the peer's FIN so that close() does
 * not reset the connection under an answer still in flight */
static void
lingerclose(struct conn *c)
{
	struct pollfd pfd = { c->fd, POLLIN, 0 };
	struct timespec t0, t;
	long left = LINGERMS;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	shutdown(c->fd, SHUT_WR);
	while (left > 0 && poll(&pfd, 1, (int)left) > 0) {
		c->off = c->len;
		if (fill(c) <= 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = LINGERMS - (t.tv_sec - t0.tv_sec) * 1000 - (t.tv_nsec - t0.tv_nsec) / 1000000;
	}
	close(c->fd);
}

static void *
serve(void *arg)
{
	struct conn *c = arg;
	struct req r;
	int st;

	for (;;) {
		if ((st = readhead(c)) == 0)
			st = parsehead(c, &r);
		if (st > 0)
			headerror(c, st);
		if (st != 0 || route(r.target)(c, &r) < 0 || !r.keepalive)
			break;
	}
	lingerclose(c);
	free(c);
	return NULL;
}

/* "backend check": 0 if GET /health on 127.0.0.1:port answers 200 within 1 s */
static void
ontimeout(int sig)
{
	(void)sig;
	_exit(1);
}

static int
check(int port)
{
	struct sockaddr_in a = { 0 };
	char buf[16];
	size_t got = 0;
	ssize_t n;
	int fd;

	signal(SIGALRM, ontimeout);
	alarm(1);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    sendall(fd, S("GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")) < 0)
		return 1;
	while (got < 12 && (n = read(fd, buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	return got >= 12 && !memcmp(buf, "HTTP/1.1 200", 12) ? 0 : 1;
}

static void
onterm(int sig)
{
	(void)sig;
	_exit(0);
}

/* the FAIL_EXIT and NO_LISTEN knobs; returns only when neither is set */
static void
misbehave(void)
{
	const char *e = getenv("FAIL_EXIT"), *n = getenv("NO_LISTEN");

	if (e && *e) {
		printf("backend: starting, then failing on purpose\n");
		fflush(stdout);
		fprintf(stderr, "backend: fatal: FAIL_EXIT=%s set\n", e);
		exit(atoi(e));
	}
	if (n && *n && strcmp(n, "0")) {
		printf("backend: NO_LISTEN set, never listening\n");
		fflush(stdout);
		for (;;)
			pause();
	}
}

static void
usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-p port] [-r recordfile]\n       %s check [-p port]\n",
	        argv0, argv0);
	exit(2);
}

static int
listenon(int port)
{
	struct sockaddr_in a = { 0 };
	socklen_t al = sizeof(a);
	int fd, one = 1;

	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_ANY);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, SOMAXCONN) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
		perror("backend: listen");
		exit(1);
	}
	fprintf(stderr, "backend: listening on 0.0.0.0:%d\n", ntohs(a.sin_port));
	return fd;
}

static void
acceptloop(int lfd)
{
	pthread_attr_t attr;
	pthread_t t;
	struct conn *c;
	int fd, one = 1;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, STACKSZ);
	for (;;) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				msleep(10);   /* EMFILE and the like: let connections end */
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (!(c = malloc(sizeof(*c)))) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->off = c->len = 0;
		if (pthread_create(&t, &attr, serve, c) != 0) {
			close(fd);
			free(c);
		}
	}
}

int
main(int argc, char **argv)
{
	const char *argv0 = argv[0], *recpath = getenv("RECORD"), *env = getenv("PORT");
	char *end;
	long port = 8080;
	int checking = argc > 1 && !strcmp(argv[1], "check"), ch;

	if (env && *env && ((port = strtol(env, &end, 10)) < 0 || port > 65535 || *end))
		port = 8080;
	if (checking) {
		argc--;
		argv++;
	}
	while ((ch = getopt(argc, argv, "p:r:")) != -1) {
		if (ch == 'p' && ((port = strtol(optarg, &end, 10)) < 0 || port > 65535 || *end || !*optarg))
			usage(argv0);
		else if (ch == 'r')
			recpath = optarg;
		else if (ch != 'p')
			usage(argv0);
	}
	if (optind != argc)
		usage(argv0);
	if (checking)
		return check((int)port);

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, onterm);   /* a handler, so this works as PID 1 too */
	signal(SIGINT, onterm);
	misbehave();
	if (gethostname(hostname, sizeof(hostname) - 1) < 0)
		strcpy(hostname, "unknown");
	instance = getenv("PRESCAL_INSTANCE");
	if (instance && !*instance)
		instance = NULL;
	memset(xs, 'x', sizeof(xs));
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (char)('a' + i % 26);
	if (recpath && *recpath &&
	    (recfd = open(recpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		perror(recpath);
		return 1;
	}
	if ((env = getenv("BOOT_MS")) && *env)
		msleep(strtol(env, NULL, 10));  /* a slow boot, for make bench-scale */
	acceptloop(listenon((int)port));
	return 0;
}
