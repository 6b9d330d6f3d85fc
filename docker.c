/* See LICENSE file for copyright and license details. */
/* docker.c: the Engine API client. Each call writes one HTTP/1.1 request
 * on the handle's keep-alive unix socket and reads the response by its
 * framing: the daemon (Go net/http) picks Content-Length or chunked by body
 * size on any endpoint, and sends no body on 204/304. See
 * tests/fixtures/README.md for the transcripts this was written against. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "docker.h"
#include "http.h"
#include "json.h"
#include "util.h"

#ifndef VERSION
#define VERSION "unknown"
#endif

#define MAXHDR     64          /* response header fields */
#define MAXREQ     65536       /* request head + body, bytes */
#define MAXJSON    (MAXREQ - 1024) /* request body, bytes */
#define BODY0      16384       /* first size of the body buffer */
#define PULLTIME   600000      /* ms for a whole image pull */

_Static_assert(DOCKER_LOGMAX <= BODY0, "the log tail fits the first body buffer");


enum { SINK_BODY, SINK_EVENTS, SINK_PULL, SINK_LOGS };

struct docker {
	char *path;
	int timeout;               /* ms per call */
	int fd;                    /* -1: not connected */
	int reused;                /* fd has carried a complete exchange */
	int64_t deadline;          /* of the current call, now_ms() clock */
	int status;                /* last HTTP status, 0 if none */
	char err[512];
	struct http_limits lim;
	struct http_header hdr[MAXHDR];
	struct http_response res;
	char *in;                  /* read buffer: in[off..off+len) unread */
	size_t off, len;
	char *body;                /* response body (or event lines), NUL-terminated */
	size_t blen, bcap;
	int sink;                  /* SINK_*: where body bytes go */
	char pullerr[256];         /* first error seen in a pull stream */
	int events;                /* fd carries an event stream */
	unsigned char fh[8];       /* SINK_LOGS: the frame header read so far */
	size_t fhlen;
	unsigned long long fleft;  /* payload bytes left in the current frame */
	unsigned long long ltotal; /* payload bytes seen in the whole stream */
	int raw;                   /* the stream has no frame headers (a TTY) */
	int lcut;                  /* older payload bytes were dropped */
	struct http_chunked ch;
	char *req;                 /* request being sent */
	char *json;                /* request body being built */
	const char *src;           /* docker_parse_reply(): the reply, read instead of fd */
	size_t srclen, srcstep;    /* bytes left in src, most bytes per read (0: any) */
};

static int
fail(struct docker *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	return -1;
}

static void
disconnect(struct docker *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	d->reused = 0;
	d->off = d->len = 0;
	d->events = 0;
	d->src = NULL;
}

const char *
docker_default_socket(void)
{
	const char *h = getenv("DOCKER_HOST");

	if (h && strncmp(h, "unix://", 7) == 0 && h[7])
		return h + 7;
	return "/var/run/docker.sock";
}

struct docker *
docker_open(const char *sockpath, int timeout_ms)
{
	struct docker *d;

	if (!(d = calloc(1, sizeof(*d))))
		return NULL;
	d->fd = -1;
	d->timeout = timeout_ms > 0 ? timeout_ms : 1;
	d->lim.max_line = DOCKER_MAXHEAD;
	d->lim.max_head = DOCKER_MAXHEAD;
	d->lim.max_headers = MAXHDR;
	d->lim.max_chunk_line = 64;
	d->lim.max_trailer = 4096;
	d->res.hdr = d->hdr;
	d->bcap = BODY0;
	if (!(d->path = strdup(sockpath)) || !(d->in = malloc(DOCKER_MAXHEAD)) ||
	    !(d->body = malloc(d->bcap + 1)) || !(d->req = malloc(MAXREQ)) ||
	    !(d->json = malloc(MAXJSON))) {
		docker_close(d);
		return NULL;
	}
	return d;
}

void
docker_close(struct docker *d)
{
	if (!d)
		return;
	disconnect(d);
	free(d->json);
	free(d->req);
	free(d->body);
	free(d->in);
	free(d->path);
	free(d);
}

void
docker_set_timeout(struct docker *d, int timeout_ms)
{
	d->timeout = timeout_ms > 0 ? timeout_ms : 1;
}

const char *
docker_error(const struct docker *d)
{
	return d->err;
}

int
docker_status(const struct docker *d)
{
	return d->status;
}

/* connection */

static int
connerr(struct docker *d, int e)
{
	const char *hint = "";
	char eb[128];

	if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR)
		hint = " (is dockerd running? set -s or DOCKER_HOST)";
	else if (e == EACCES || e == EPERM)
		hint = " (run prescal as root or add its user to the docker group)";
	return fail(d, "cannot connect to %s: %s%s", d->path, errstr(e, eb, sizeof(eb)), hint);
}

static int
dconnect(struct docker *d)
{
	struct sockaddr_un sa;
	int e;

	d->src = NULL;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(d->path) >= sizeof(sa.sun_path))
		return fail(d, "cannot connect to %s: socket path too long", d->path);
	memcpy(sa.sun_path, d->path, strlen(d->path) + 1);
	if ((d->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return connerr(d, errno);
	/* SO_SNDTIMEO also bounds connect() when the listen backlog is full */
	sock_timeouts(d->fd, d->timeout, d->timeout);
	if (connect(d->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		disconnect(d);
		return connerr(d, e == EAGAIN ? ETIMEDOUT : e);
	}
	d->reused = 0;
	d->off = d->len = 0;
	return 0;
}

/* an idle keep-alive connection that is readable was closed (or sent
 * junk): either way it must not carry the next request */
static int
stale(struct docker *d)
{
	struct pollfd p = { d->fd, POLLIN, 0 };

	return d->len > 0 || poll(&p, 1, 0) != 0;
}

/* reads up to n bytes before d->deadline. Returns bytes, 0 at EOF, -1
 * with errno (ETIMEDOUT when the deadline passed) */
static ssize_t
rd(struct docker *d, char *buf, size_t n)
{
	struct pollfd p = { d->fd, POLLIN, 0 };
	int64_t left;
	ssize_t r;

	/* a recorded reply stands in for the socket: no I/O */
	if (d->src) {
		if (d->srcstep && n > d->srcstep)
			n = d->srcstep;
		if (n > d->srclen)
			n = d->srclen;
		memcpy(buf, d->src, n);
		d->src += n;
		d->srclen -= n;
		return n;
	}
	for (;;) {
		left = MAX(d->deadline - now_ms(), 0);
		r = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ETIMEDOUT;
			return -1;
		}
		r = read(d->fd, buf, n);
		if (r >= 0 || (errno != EINTR && errno != EAGAIN))
			return r;
	}
}

/* reads more into d->in. Returns bytes, 0 at EOF, -1 with errno */
static ssize_t
fill(struct docker *d)
{
	ssize_t r;

	if (d->off > 0) {
		memmove(d->in, d->in + d->off, d->len);
		d->off = 0;
	}
	if (d->len == DOCKER_MAXHEAD) {
		errno = ENOBUFS;
		return -1;
	}
	r = rd(d, d->in + d->len, DOCKER_MAXHEAD - d->len);
	if (r > 0)
		d->len += r;
	return r;
}

static int
readerr(struct docker *d, ssize_t r)
{
	char eb[128];

	if (r == 0)
		return fail(d, "%s closed the connection in the middle of a response", d->path);
	if (errno == ETIMEDOUT)
		return fail(d, "timed out waiting for the daemon at %s", d->path);
	return fail(d, "cannot read from %s: %s", d->path, errstr(errno, eb, sizeof(eb)));
}

/* reads a response head. Returns 0, -1, or -2 if the connection was
 * closed before the first byte (the caller may retry on a new one) */
static int
readhead(struct docker *d)
{
	int got = 0, r;
	ssize_t n;

	for (;;) {
		if (d->len > 0) {
			got = 1;
			r = http_parse_response(d->in + d->off, d->len, &d->lim, 0, &d->res);
			if (r == -1)
				return fail(d, "malformed response head from %s", d->path);
			if (r > 0) {
				d->off += r;
				d->len -= r;
				d->status = d->res.status;
				if (d->status >= 200 || d->status == 101)
					return 0;
				continue;  /* skip 1xx */
			}
		}
		if ((n = fill(d)) <= 0) {
			if (!got && (n == 0 || errno == ECONNRESET))
				return -2;
			if (n < 0 && errno == ENOBUFS)
				return fail(d, "response head from %s too large", d->path);
			return readerr(d, n);
		}
	}
}

/* handles complete lines of a pull's progress stream */
static void
pullines(struct docker *d)
{
	struct json_val v;
	char *nl;
	size_t k;

	while ((nl = memchr(d->body, '\n', d->blen))) {
		k = nl - d->body;
		if (!d->pullerr[0] && json_get(d->body, k, "error", &v) == 1 &&
		    json_string(&v, d->pullerr, sizeof(d->pullerr)) < 0)
			snprintf(d->pullerr, sizeof(d->pullerr), "unreadable error");
		memmove(d->body, nl + 1, d->blen - k - 1);
		d->blen -= k + 1;
		d->body[d->blen] = '\0';
	}
}

/* keeps payload bytes of a log stream: only the last DOCKER_LOGMAX */
static void
keeplog(struct docker *d, const char *p, size_t n)
{
	if (n >= DOCKER_LOGMAX) {
		p += n - DOCKER_LOGMAX;
		n = DOCKER_LOGMAX;
		d->blen = 0;
		d->lcut = 1;
	} else if (d->blen + n > DOCKER_LOGMAX) {
		size_t drop = d->blen + n - DOCKER_LOGMAX;
		memmove(d->body, d->body + drop, d->blen - drop);
		d->blen -= drop;
		d->lcut = 1;
	}
	memcpy(d->body + d->blen, p, n);
	d->blen += n;
	d->body[d->blen] = '\0';
}

/*
 * a log stream without a TTY is multiplexed: each frame is an 8-byte header
 * (stream 0 stdin, 1 stdout, 2 stderr; three zero bytes; payload size, 32
 * bits big-endian) and its payload. Frames may split anywhere across reads.
 * A stream that does not start with such a header is a TTY's raw stream.
 */
static int
demux(struct docker *d, const char *p, size_t n)
{
	size_t k;

	if ((d->ltotal += n) > DOCKER_MAXBODY)
		return fail(d, "log stream too large (over %d bytes)", DOCKER_MAXBODY);
	while (n > 0) {
		if (d->raw || d->fleft > 0) {
			k = d->raw ? n : (size_t)MIN(d->fleft, n);
			keeplog(d, p, k);
			d->fleft -= d->raw ? 0 : k;
			p += k;
			n -= k;
			continue;
		}
		k = MIN(n, sizeof(d->fh) - d->fhlen);
		memcpy(d->fh + d->fhlen, p, k);
		d->fhlen += k;
		p += k;
		n -= k;
		if (d->fhlen < sizeof(d->fh))
			break;
		d->fhlen = 0;
		if (d->fh[0] > 2 || d->fh[1] || d->fh[2] || d->fh[3]) {
			if (d->ltotal > n + sizeof(d->fh))
				return fail(d, "malformed log stream frame");
			d->raw = 1;
			keeplog(d, (const char *)d->fh, sizeof(d->fh));
			continue;
		}
		d->fleft = (unsigned long long)d->fh[4] << 24 | (unsigned long long)d->fh[5] << 16 |
		           (unsigned long long)d->fh[6] << 8 | d->fh[7];
	}
	return 0;
}

/* appends body bytes, bounded by DOCKER_MAXBODY */
static int
sink(struct docker *d, const char *p, size_t n)
{
	char *nb;
	size_t cap;

	if (d->sink == SINK_LOGS && d->status == 200)
		return demux(d, p, n);
	if (n > DOCKER_MAXBODY - d->blen)
		return fail(d, "response too large (over %d bytes)", DOCKER_MAXBODY);
	if (d->blen + n > d->bcap) {
		for (cap = d->bcap; cap < d->blen + n; cap *= 2)
			;
		if (cap > DOCKER_MAXBODY)
			cap = DOCKER_MAXBODY;
		if (!(nb = realloc(d->body, cap + 1)))
			return fail(d, "out of memory");
		d->body = nb;
		d->bcap = cap;
	}
	memcpy(d->body + d->blen, p, n);
	d->blen += n;
	d->body[d->blen] = '\0';
	if (d->sink == SINK_PULL && d->status == 200)
		pullines(d);
	return 0;
}

/* feeds buffered bytes of a chunked body to the decoder. Returns 0, -1 */
static int
unchunk(struct docker *d)
{
	const char *data;
	size_t dlen;
	ssize_t s;

	while (d->len > 0 && !d->ch.done) {
		s = http_chunked_step(&d->ch, d->in + d->off, d->len, &d->lim, &data, &dlen);
		if (s < 0)
			return fail(d, "malformed chunked body from %s", d->path);
		d->off += s;
		d->len -= s;
		if (dlen && sink(d, data, dlen) < 0)
			return -1;
	}
	return 0;
}

static int
readbody(struct docker *d)
{
	unsigned long long left = d->res.clen;
	ssize_t n;
	size_t k;

	d->blen = 0;
	d->body[0] = '\0';
	switch (d->res.body) {
	case HTTP_BODY_LENGTH:
		if (left > DOCKER_MAXBODY && d->sink == SINK_BODY)
			return fail(d, "response too large (%llu bytes)", left);
		for (;;) {
			k = MIN(left, d->len);
			if (sink(d, d->in + d->off, k) < 0)
				return -1;
			d->off += k;
			d->len -= k;
			if ((left -= k) == 0)
				return 0;
			if ((n = fill(d)) <= 0)
				return readerr(d, n);
		}
	case HTTP_BODY_CHUNKED:
		http_chunked_init(&d->ch);
		for (;;) {
			if (unchunk(d) < 0)
				return -1;
			if (d->ch.done)
				return 0;
			if ((n = fill(d)) <= 0)
				return readerr(d, n);
		}
	case HTTP_BODY_CLOSE:
		for (;;) {
			if (sink(d, d->in + d->off, d->len) < 0)
				return -1;
			d->off = d->len = 0;
			if ((n = fill(d)) == 0)
				return 0;
			if (n < 0)
				return readerr(d, n);
		}
	default:
		return 0;
	}
}

/* writes the request in d->req (head and body) and reads the response
 * head, reconnecting once if a reused connection turns out closed */
static int
exchange(struct docker *d, size_t reqlen)
{
	char eb[128];
	int try, r, reused;

	d->status = 0;
	d->err[0] = '\0';
	if (d->fd >= 0 && (d->events || stale(d)))
		disconnect(d);
	for (try = 0; try < 2; try++) {
		if (d->fd < 0 && dconnect(d) < 0)
			return -1;
		reused = d->reused;
		if (writeall(d->fd, d->req, reqlen) < 0) {
			r = errno;
			disconnect(d);
			if (reused)
				continue;
			return fail(d, "cannot write to %s: %s", d->path, errstr(r, eb, sizeof(eb)));
		}
		if ((r = readhead(d)) == 0)
			return 0;
		disconnect(d);
		if (r == -1 || !reused)
			break;
	}
	if (!d->err[0])
		fail(d, "%s closed the connection without a response", d->path);
	return -1;
}

/* reads the body after the head and keeps or drops the connection.
 * Returns the status or -1 */
static int
finish(struct docker *d)
{
	if (readbody(d) < 0) {
		disconnect(d);
		return -1;
	}
	if (!d->res.keepalive)
		disconnect(d);
	else
		d->reused = 1;
	return d->status;
}

/* sends method target (with a JSON body if body is not NULL) and reads the
 * whole response. extra_ms extends the deadline. Returns the status or -1 */
static int
call(struct docker *d, const char *method, const char *target, const char *body,
     int extra_ms, int mode)
{
	size_t blen = body ? strlen(body) : 0;
	int n;

	if (body)
		n = snprintf(d->req, MAXREQ, "%s %s HTTP/1.1\r\nHost: docker\r\n"
		             "User-Agent: prescal/" VERSION "\r\nContent-Type: application/json\r\n"
		             "Content-Length: %zu\r\n\r\n", method, target, blen);
	else
		n = snprintf(d->req, MAXREQ, "%s %s HTTP/1.1\r\nHost: docker\r\n"
		             "User-Agent: prescal/" VERSION "\r\n\r\n", method, target);
	if (n < 0 || (size_t)n + blen >= MAXREQ)
		return fail(d, "request too large");
	memcpy(d->req + n, body ? body : "", blen);
	d->deadline = now_ms() + d->timeout + extra_ms;
	d->sink = mode;
	if (exchange(d, n + blen) < 0)
		return -1;
	return finish(d);
}

/* sets the error to "<status>: <daemon message>". Returns -1 */
static int
apierr(struct docker *d)
{
	struct json_val v;
	char msg[384];
	size_t i, k;

	if (json_get(d->body, d->blen, "message", &v) == 1 &&
	    json_string(&v, msg, sizeof(msg)) > 0) {
		/* one log line: no control bytes from the daemon */
		for (i = 0; msg[i]; i++)
			if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
				msg[i] = '?';
		return fail(d, "%d: %s", d->status, msg);
	}
	/* a text body: printable, first line, bounded */
	for (i = k = 0; i < d->blen && d->body[i] != '\n' && k < sizeof(msg) - 1; i++)
		msg[k++] = d->body[i] >= 0x20 && d->body[i] < 0x7f ? d->body[i] : '?';
	while (k > 0 && msg[k - 1] == ' ')
		k--;
	msg[k] = '\0';
	return fail(d, "%d: %s", d->status, k ? msg : http_reason(d->status));
}

/* checks; names are config or daemon data, never client input */

#define NAMELEN 127  /* bytes of a container, instance set or id name */

/* image references: [registry[:port]/]repo[:tag][@digest] */
static int
okimage(const char *s)
{
	size_t i;

	if (!s || !s[0] || s[0] == '-' || s[0] == '.' || s[0] == '/' || s[0] == ':')
		return 0;
	for (i = 0; s[i]; i++)
		if (i >= 255 || !strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_.-:/@", s[i]))
			return 0;
	return !strstr(s, "..");
}

static int
badname(struct docker *d, const char *what, const char *s)
{
	d->status = 0;
	return fail(d, "invalid %s \"%.128s\": only [a-zA-Z0-9][a-zA-Z0-9_.-]* is allowed",
	            what, s ? s : "(null)");
}

/* percent-encodes s (RFC 3986: all but unreserved) into out */
static int
pctenc(const char *s, char *out, size_t n)
{
	const char *hex = "0123456789ABCDEF";
	size_t k = 0;
	unsigned char c;

	for (; (c = *s); s++) {
		if (k + 4 > n)
			return -1;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			out[k++] = c;
		} else {
			out[k++] = '%';
			out[k++] = hex[c >> 4];
			out[k++] = hex[c & 15];
		}
	}
	out[k] = '\0';
	return 0;
}

/* {"label":["prescal.managed=true","prescal.name=<set>"]} (and type
 * container), percent-encoded; the daemon ANDs the labels; set NULL:
 * every prescal-managed container */
static int
filters(struct docker *d, const char *set, int events, char *out, size_t n)
{
	struct json_w w;
	char label[160], js[256];

	json_w_init(&w, js, sizeof(js));
	json_w_open(&w, '{');
	json_w_key(&w, "label");
	json_w_open(&w, '[');
	json_w_str(&w, "prescal.managed=true");
	if (set) {
		snprintf(label, sizeof(label), "prescal.name=%s", set);
		json_w_str(&w, label);
	}
	json_w_close(&w);
	if (events) {
		json_w_key(&w, "type");
		json_w_open(&w, '[');
		json_w_str(&w, "container");
		json_w_close(&w);
	}
	json_w_close(&w);
	if (json_w_end(&w) < 0 || pctenc(js, out, n) < 0)
		return fail(d, "filter too long");
	return 0;
}

/* copies src into dst[n], truncated */
static void
scopy(char *dst, size_t n, const char *src)
{
	size_t k = strlen(src);

	if (k >= n)
		k = n - 1;
	memcpy(dst, src, k);
	dst[k] = '\0';
}


static int
badjson(struct docker *d, const char *what)
{
	return fail(d, "malformed %s response from %s", what, d->path);
}

/* container settings (docker_spec_buf): pure, for config files */

static int
specerr(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *
specstr(const struct docker_spec_buf *s, int list, size_t i)
{
	return s->str + s->off[list][i];
}

/* appends v[0..k) to a list */
static int
specadd(struct docker_spec_buf *s, int list, const char *v, size_t k, char *err, size_t n)
{
	static const char *what[] = {
		[DOCKER_SL_ENV] = "env", [DOCKER_SL_CMD] = "cmd",
		[DOCKER_SL_VOLUME] = "volume", [DOCKER_SL_LABEL] = "label",
	};

	if (s->n[list] >= DOCKER_SPEC_MAXITEMS)
		return specerr(err, n, "more than %d %s entries", DOCKER_SPEC_MAXITEMS, what[list]);
	if (k >= DOCKER_SPEC_MAXLEN)
		return specerr(err, n, "%s entry longer than %d bytes", what[list],
		               DOCKER_SPEC_MAXLEN - 1);
	if (k + 1 > DOCKER_SPEC_MAXSTR - s->len)
		return specerr(err, n, "container settings longer than %d bytes in all",
		               DOCKER_SPEC_MAXSTR);
	if (memchr(v, '\0', k) || !json_utf8_valid(v, k))
		return specerr(err, n, "%s entry is not valid UTF-8", what[list]);
	memcpy(s->str + s->len, v, k);
	s->str[s->len + k] = '\0';
	s->off[list][s->n[list]++] = (unsigned short)s->len;
	s->len += k + 1;
	return 0;
}

/* whether s[0..k) has only bytes of set, at least min of them */
static int
spanof(const char *s, size_t k, const char *set, size_t min)
{
	return k >= min && strspn(s, set) >= k;
}

#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

static int
setenvvar(struct docker_spec_buf *s, const char *v, char *err, size_t n)
{
	size_t k = strcspn(v, "=");

	if (!v[k] || k == 0)
		return specerr(err, n, "expected NAME=VALUE");
	if (!spanof(v, k, ALNUM "_.-", 1) || (v[0] >= '0' && v[0] <= '9'))
		return specerr(err, n, "variable name must be [A-Za-z_.-][A-Za-z0-9_.-]*");
	if ((k == 4 && !strncmp(v, "PORT", 4)) || (k == 16 && !strncmp(v, "PRESCAL_INSTANCE", 16)))
		return specerr(err, n, "%.*s is prescal's (PORT is the container port)", (int)k, v);
	return specadd(s, DOCKER_SL_ENV, v, strlen(v), err, n);
}

/* splits v into words at blanks; "..." quotes blanks, \" and \\ in it */
static int
setcmd(struct docker_spec_buf *s, const char *v, char *err, size_t n)
{
	char w[DOCKER_SPEC_MAXLEN];
	size_t k;
	int q, words = 0;

	for (;;) {
		v += strspn(v, " \t");
		if (!*v)
			break;
		for (k = 0, q = 0; *v && (q || !strchr(" \t", *v)); v++) {
			if (*v == '"') {
				q = !q;
				continue;
			}
			if (q && *v == '\\' && (v[1] == '"' || v[1] == '\\'))
				v++;
			if (k + 1 >= sizeof(w))
				return specerr(err, n, "cmd argument longer than %d bytes",
				               DOCKER_SPEC_MAXLEN - 1);
			w[k++] = *v;
		}
		if (q)
			return specerr(err, n, "unterminated \" quote");
		if (specadd(s, DOCKER_SL_CMD, w, k, err, n) < 0)
			return -1;
		words++;
	}
	return words ? 0 : specerr(err, n, "no arguments");
}

/* a container path: absolute, no ':', not "/" */
static int
okpath(const char *p, size_t k)
{
	return k >= 2 && p[0] == '/' && !memchr(p, ':', k) && !memchr(p, ',', k);
}

static int
setvolume(struct docker_spec_buf *s, const char *v, char *err, size_t n)
{
	const char *dst, *mode;
	size_t k = strcspn(v, ":");

	if (!v[k])
		return specerr(err, n, "expected SOURCE:/PATH[:ro|:rw]");
	dst = v + k + 1;
	mode = dst + strcspn(dst, ":");
	if (v[0] == '/') {
		if (!okpath(v, k))
			return specerr(err, n, "host path must be absolute and longer than \"/\"");
	} else if (!spanof(v, k, ALNUM "_.-", 2) || !strchr(ALNUM, v[0])) {
		return specerr(err, n, "volume name must be [a-zA-Z0-9][a-zA-Z0-9_.-]+ "
		               "(or a host path starting with /)");
	}
	if (!okpath(dst, mode - dst))
		return specerr(err, n, "container path must be absolute, not \"/\", without ':'");
	if (*mode && strcmp(mode, ":ro") && strcmp(mode, ":rw"))
		return specerr(err, n, "mode must be ro or rw");
	return specadd(s, DOCKER_SL_VOLUME, v, strlen(v), err, n);
}

static int
setlabel(struct docker_spec_buf *s, const char *v, char *err, size_t n)
{
	size_t k = strcspn(v, "="), i;
	const char *o;

	if (!v[k] || k == 0)
		return specerr(err, n, "expected KEY=VALUE");
	if (!spanof(v, k, ALNUM "_.-/", 1))
		return specerr(err, n, "label key must be [A-Za-z0-9_./-]+");
	if (k >= 8 && !strncasecmp(v, "prescal.", 8))
		return specerr(err, n, "label keys prescal.* are prescal's own");
	for (i = 0; i < s->n[DOCKER_SL_LABEL]; i++) {
		o = specstr(s, DOCKER_SL_LABEL, i);
		if (!strncmp(o, v, k) && o[k] == '=')
			return specerr(err, n, "label %.*s given twice", (int)MIN(k, 64), v);
	}
	return specadd(s, DOCKER_SL_LABEL, v, strlen(v), err, n);
}

/* a Swarm placement constraint, passed as it is: "node.role==worker",
 * "node.labels.zone!=a"; Swarm takes at most 16 */
static int
setconstraint(struct docker_spec_buf *s, const char *v, char *err, size_t n)
{
	size_t k = strcspn(v, "=!");

	if (k == 0 || !(v[k] == '=' || v[k] == '!') || v[k + 1] != '=' || !v[k + 2])
		return specerr(err, n, "expected ATTRIBUTE==VALUE or ATTRIBUTE!=VALUE");
	if (!spanof(v, strlen(v), ALNUM "_.-=!:/ ", 1) || strlen(v) > 255)
		return specerr(err, n, "a constraint is up to 255 of [A-Za-z0-9_.:/ =!-]");
	if (s->n[DOCKER_SL_CONSTRAINT] >= 16)
		return specerr(err, n, "at most 16 constraints");
	return specadd(s, DOCKER_SL_CONSTRAINT, v, strlen(v), err, n);
}

/* "N[b|k|m|g]", 1024s: Docker's minimum is 6 MiB; "0" is no limit */
static int
setmemory(struct docker_spec_buf *s, const char *v, char *err, size_t n)
{
	unsigned long long x = 0, mul = 1;
	size_t k = strspn(v, "0123456789");
	const char *u = v + k;

	if (k == 0 || k > 13 || (u[0] && u[1]) || (*u && !strchr("bBkKmMgG", *u)))
		return specerr(err, n, "expected bytes, or a number ending in k, m or g "
		               "(1024s), e.g. 512m");
	for (size_t i = 0; i < k; i++)
		x = x * 10 + (v[i] - '0');
	if (*u == 'k' || *u == 'K')
		mul = 1ULL << 10;
	else if (*u == 'm' || *u == 'M')
		mul = 1ULL << 20;
	else if (*u == 'g' || *u == 'G')
		mul = 1ULL << 30;
	if (x != 0 && (x > (1ULL << 42) / mul || x * mul < (6ULL << 20)))
		return specerr(err, n, "memory limit must be 0 (none) or 6m to 4096g");
	s->memory = (long long)(x * mul);
	return 0;
}

/* "N[.N]" CPUs, at most 9 decimals: 0.01 to 1024; "0" is no limit */
static int
setcpus(struct docker_spec_buf *s, const char *v, char *err, size_t n)
{
	size_t k = strspn(v, "0123456789"), f = 0;
	long long x = 0, frac = 0, scale = 1000000000;

	if (v[k] == '.')
		f = strspn(v + k + 1, "0123456789");
	if (k == 0 || k > 4 || (v[k] && (v[k] != '.' || f == 0 || f > 9 || v[k + 1 + f])))
		return specerr(err, n, "expected a number of CPUs such as 0.5 or 2");
	for (size_t i = 0; i < k; i++)
		x = x * 10 + (v[i] - '0');
	for (size_t i = 0; i < f; i++) {
		scale /= 10;
		frac += (v[k + 1 + i] - '0') * scale;
	}
	x = x * 1000000000 + frac;
	if (x != 0 && (x < 10000000 || x > 1024LL * 1000000000))
		return specerr(err, n, "CPUs must be 0 (no limit) or 0.01 to 1024");
	s->nanocpus = x;
	return 0;
}

static int
setuser(struct docker_spec_buf *s, const char *v, char *err, size_t n)
{
	size_t k = strcspn(v, ":"), len = strlen(v);

	if (len >= sizeof(s->user))
		return specerr(err, n, "user longer than %zu bytes", sizeof(s->user) - 1);
	if (!spanof(v, k, ALNUM "_.-", 1) || (v[k] && !spanof(v + k + 1, len - k - 1,
	    ALNUM "_.-", 1)))
		return specerr(err, n, "expected USER or USER:GROUP, names or ids "
		               "[A-Za-z0-9_.-]");
	memcpy(s->user, v, len + 1);
	return 0;
}

int
docker_spec_set(struct docker_spec_buf *s, const char *key, const char *val, char *err,
                size_t n)
{
	static const struct {
		const char *key;
		int (*set)(struct docker_spec_buf *, const char *, char *, size_t);
	} keys[] = {
		{ "env", setenvvar }, { "cmd", setcmd }, { "volume", setvolume },
		{ "label", setlabel }, { "memory", setmemory }, { "cpus", setcpus },
		{ "user", setuser }, { "constraint", setconstraint },
	};
	struct docker_spec_buf t;

	for (size_t i = 0; i < LEN(keys); i++) {
		if (strcmp(key, keys[i].key))
			continue;
		/* on a copy: an error leaves s as it was */
		t = *s;
		if (keys[i].set(&t, val, err, n) < 0)
			return -1;
		*s = t;
		return 0;
	}
	return specerr(err, n, "unknown container setting '%.32s'", key);
}

/* the words of cmd on one line, quoted where docker_spec_set() needs it */
static void
cmdline(const struct docker_spec_buf *s, char *out, size_t n)
{
	const char *a;
	size_t k = 0;

	for (size_t i = 0; i < s->n[DOCKER_SL_CMD]; i++) {
		a = specstr(s, DOCKER_SL_CMD, i);
		if (i && k + 1 < n)
			out[k++] = ' ';
		if (*a && !strpbrk(a, " \t\"")) {
			for (; *a && k + 1 < n; a++)
				out[k++] = *a;
			continue;
		}
		if (k + 1 < n)
			out[k++] = '"';
		for (; *a && k + 2 < n; a++) {
			if (*a == '"' || *a == '\\')
				out[k++] = '\\';
			out[k++] = *a;
		}
		if (k + 1 < n)
			out[k++] = '"';
	}
	out[k] = '\0';
}

int
docker_spec_get(const struct docker_spec_buf *s, const char *key, size_t i, char *out,
                size_t n)
{
	static const char *lists[] = {
		[DOCKER_SL_ENV] = "env", [DOCKER_SL_VOLUME] = "volume", [DOCKER_SL_LABEL] = "label",
		[DOCKER_SL_CONSTRAINT] = "constraint",
	};
	long long c = s->nanocpus;
	int l, k;

	out[0] = '\0';
	for (l = 0; l < NUM_DOCKER_SL; l++)
		if (lists[l] && !strcmp(key, lists[l])) {
			if (i >= s->n[l])
				return 0;
			scopy(out, n, specstr(s, l, i));
			return 1;
		}
	if (i > 0)
		return 0;
	if (!strcmp(key, "cmd") && s->n[DOCKER_SL_CMD])
		cmdline(s, out, n);
	else if (!strcmp(key, "memory") && s->memory)
		snprintf(out, n, "%lld", s->memory);
	else if (!strcmp(key, "cpus") && c) {
		/* "0.500000000" -> "0.5", "2.000000000" -> "2" */
		k = snprintf(out, n, "%lld.%09lld", c / 1000000000, c % 1000000000);
		if (k > 0 && (size_t)k < n) {
			while (out[k - 1] == '0')
				k--;
			if (out[k - 1] == '.')
				k--;
			out[k] = '\0';
		}
	} else if (!strcmp(key, "user") && s->user[0])
		scopy(out, n, s->user);
	return out[0] != '\0';
}

int
docker_spec_equal(const struct docker_spec_buf *a, const struct docker_spec_buf *b)
{
	if (a->memory != b->memory || a->nanocpus != b->nanocpus || strcmp(a->user, b->user))
		return 0;
	for (int l = 0; l < NUM_DOCKER_SL; l++) {
		if (a->n[l] != b->n[l])
			return 0;
		for (size_t i = 0; i < a->n[l]; i++)
			if (strcmp(specstr(a, l, i), specstr(b, l, i)))
				return 0;
	}
	return 1;
}

int
docker_spec_view(const struct docker_spec_buf *b, const char *const *pre, size_t npre,
                 const char **vec, size_t nvec, struct docker_spec *s)
{
	const char **lists[NUM_DOCKER_SL];
	size_t k = 0, i;
	int l;

	for (l = 0; l < NUM_DOCKER_SL; l++)
		k += b->n[l];
	if (nvec < npre + k)
		return -1;
	k = 0;
	for (l = 0; l < NUM_DOCKER_SL; l++) {
		lists[l] = vec + k;
		for (i = 0; i < b->n[l]; i++)
			vec[k++] = specstr(b, l, i);
		if (l == DOCKER_SL_ENV)
			for (i = 0; i < npre; i++)
				vec[k++] = pre[i];
	}
	s->env = lists[DOCKER_SL_ENV];
	s->nenv = b->n[DOCKER_SL_ENV] + npre;
	s->cmd = lists[DOCKER_SL_CMD];
	s->ncmd = b->n[DOCKER_SL_CMD];
	s->volumes = lists[DOCKER_SL_VOLUME];
	s->nvolumes = b->n[DOCKER_SL_VOLUME];
	s->labels = lists[DOCKER_SL_LABEL];
	s->nlabels = b->n[DOCKER_SL_LABEL];
	s->memory = b->memory;
	s->nanocpus = b->nanocpus;
	s->user = b->user;
	return 0;
}

const char *
docker_net_ip(const struct docker_net *nets, size_t n, const char *name)
{
	for (size_t i = 0; i < n && i < DOCKER_MAXNETS; i++)
		if (!strcmp(nets[i].name, name))
			return nets[i].ip[0] ? nets[i].ip : NULL;
	return NULL;
}

/* API calls */

int
docker_ping(struct docker *d, char *version, size_t n)
{
	int st;

	if ((st = call(d, "GET", "/_ping", NULL, 0, SINK_BODY)) < 0)
		return -1;
	if (st != 200)
		return apierr(d);
	if ((st = call(d, "GET", DOCKER_API "/version", NULL, 0, SINK_BODY)) < 0)
		return -1;
	if (st != 200)
		return apierr(d);
	if (json_get_str(d->body, d->blen, "Version", version, n) != 1)
		return badjson(d, "version");
	return 0;
}

int
docker_image_exists(struct docker *d, const char *image)
{
	char target[512];
	int st;

	d->status = 0;
	if (!okimage(image))
		return fail(d, "invalid image name \"%.128s\"", image ? image : "(null)");
	snprintf(target, sizeof(target), DOCKER_API "/images/%s/json", image);
	if ((st = call(d, "GET", target, NULL, 0, SINK_BODY)) < 0)
		return -1;
	if (st == 404) {
		fail(d, "image %s not found locally", image);
		return 0;
	}
	if (st != 200)
		return apierr(d);
	if (json_valid(d->body, d->blen) < 0)
		return badjson(d, "image inspect");
	return 1;
}

/* prescal's own container id or name, if it runs in one: the id in the
 * paths of the files Docker mounts (/etc/hostname and others, any cgroup
 * version), else the hostname when /.dockerenv exists. Returns 1, 0 if
 * not in a container */
static int
selfid(char *out, size_t n)
{
	char line[1024], *p;
	FILE *f;
	int found = 0;

	if ((f = fopen("/proc/self/mountinfo", "r"))) {
		while (!found && fgets(line, sizeof(line), f))
			for (p = line; !found && (p = strstr(p, "/containers/")); p++)
				if (strspn(p + 12, "0123456789abcdef") >= 64 && p[76] == '/') {
					snprintf(out, n, "%.64s", p + 12);
					found = 1;
				}
		fclose(f);
	}
	if (found)
		return 1;
	if (access("/.dockerenv", F_OK) < 0 || gethostname(line, sizeof(line)) < 0)
		return 0;
	line[sizeof(line) - 1] = '\0';
	scopy(out, n, line);
	return 1;
}

int
docker_network_check(struct docker *d, const char *name)
{
	char target[256], real[64], self[128];
	struct docker_state st;
	int r;

	d->status = 0;
	if (!name_valid(name, NAMELEN))
		return badname(d, "network name", name);
	snprintf(target, sizeof(target), DOCKER_API "/networks/%s", name);
	if ((r = call(d, "GET", target, NULL, 0, SINK_BODY)) < 0)
		return -1;
	if (r == 404)
		return fail(d, "network %s does not exist (create it with docker network "
		            "create %s)", name, name);
	if (r != 200)
		return apierr(d);
	if (json_get_str(d->body, d->blen, "Name", real, sizeof(real)) != 1)
		return badjson(d, "network inspect");
	/* inspect lists a container's networks by name: an id would not match */
	if (strcmp(real, name))
		return fail(d, "network %s: give its name, %s", name, real);
	if (!selfid(self, sizeof(self)))
		return 0;
	/* 404: a container, but not one of this daemon's (another host's, or
	 * a VM's): nothing here can be checked */
	if (docker_inspect(d, self, 0, &st) < 0)
		return docker_status(d) == 404 ? 0 : -1;
	if (!docker_net_ip(st.nets, st.nnets, real))
		return fail(d, "prescal runs in container %s, which is not attached to network "
		            "%s (docker network connect %s %s)", st.name, real, real, st.name);
	return 0;
}

/* the rest of docker_image_pull() once a reply with status st is read */
static int
pulled(struct docker *d, int st, const char *image)
{
	if (st != 200) {
		d->sink = SINK_BODY;
		return apierr(d);
	}
	if (d->pullerr[0])
		return fail(d, "cannot pull %s: %s", image, d->pullerr);
	return 0;
}

int
docker_image_pull(struct docker *d, const char *image)
{
	char target[1024], enc[800];
	int st;

	d->status = 0;
	if (!okimage(image) || pctenc(image, enc, sizeof(enc)) < 0)
		return fail(d, "invalid image name \"%.128s\"", image ? image : "(null)");
	snprintf(target, sizeof(target), DOCKER_API "/images/create?fromImage=%s", enc);
	d->pullerr[0] = '\0';
	/* an empty body: pull takes no JSON, but a POST wants a length */
	st = call(d, "POST", target, "", PULLTIME, SINK_PULL);
	if (st < 0)
		return -1;
	return pulled(d, st, image);
}

/* the extra labels, skipping any prescal.* one: ours come after and win */
static void
extralabels(struct json_w *w, const struct docker_spec *s)
{
	char key[DOCKER_SPEC_MAXLEN];
	const char *l, *eq;

	for (size_t i = 0; i < s->nlabels; i++) {
		l = s->labels[i] ? s->labels[i] : "";
		if (!(eq = strchr(l, '=')) || eq == l || (size_t)(eq - l) >= sizeof(key) ||
		    !strncasecmp(l, "prescal.", 8))
			continue;
		memcpy(key, l, eq - l);
		key[eq - l] = '\0';
		json_w_key(w, key);
		json_w_str(w, eq + 1);
	}
}

static void
strarray(struct json_w *w, const char *key, const char *const *v, size_t n)
{
	json_w_key(w, key);
	json_w_open(w, '[');
	for (size_t i = 0; i < n; i++)
		json_w_str(w, v[i] ? v[i] : "");
	json_w_close(w);
}

/* HostConfig: networking, limits, volumes */
static void
hostconfig(struct json_w *w, const struct docker_spec *s, const char *port)
{
	json_w_key(w, "HostConfig");
	json_w_open(w, '{');
	if (s->hostnet || (s->network && s->network[0])) {
		json_w_key(w, "NetworkMode");
		json_w_str(w, s->hostnet ? "host" : s->network);
	} else {
		/* HostPort "": an ephemeral port, chosen at start */
		json_w_key(w, "PortBindings");
		json_w_open(w, '{');
		json_w_key(w, port);
		json_w_open(w, '[');
		json_w_open(w, '{');
		json_w_key(w, "HostIp");
		json_w_str(w, "127.0.0.1");
		json_w_key(w, "HostPort");
		json_w_str(w, "");
		json_w_close(w);
		json_w_close(w);
		json_w_close(w);
	}
	if (s->memory > 0) {
		json_w_key(w, "Memory");
		json_w_int(w, s->memory);
	}
	if (s->nanocpus > 0) {
		json_w_key(w, "NanoCpus");
		json_w_int(w, s->nanocpus);
	}
	if (s->nvolumes > 0)
		strarray(w, "Binds", s->volumes, s->nvolumes);
	json_w_key(w, "AutoRemove");
	json_w_bool(w, 0);
	json_w_key(w, "RestartPolicy");
	json_w_open(w, '{');
	json_w_key(w, "Name");
	json_w_str(w, "no");
	json_w_close(w);
	json_w_close(w);
}

/* the create body: see tests/fixtures/create-201.req and
 * create-spec-201.req */
static int
createbody(struct docker *d, const struct docker_spec *s)
{
	struct json_w w;
	char port[16];

	snprintf(port, sizeof(port), "%d/tcp", s->port);
	json_w_init(&w, d->json, MAXJSON);
	json_w_open(&w, '{');
	json_w_key(&w, "Image");
	json_w_str(&w, s->image);
	if (s->user && s->user[0]) {
		json_w_key(&w, "User");
		json_w_str(&w, s->user);
	}
	strarray(&w, "Env", s->env, s->nenv);
	if (s->ncmd > 0)
		strarray(&w, "Cmd", s->cmd, s->ncmd);
	json_w_key(&w, "Labels");
	json_w_open(&w, '{');
	extralabels(&w, s);
	json_w_key(&w, "prescal.managed");
	json_w_str(&w, "true");
	json_w_key(&w, "prescal.name");
	json_w_str(&w, s->set);
	json_w_key(&w, "prescal.image");
	json_w_str(&w, s->image);
	json_w_close(&w);
	if (!s->hostnet && !(s->network && s->network[0])) {
		json_w_key(&w, "ExposedPorts");
		json_w_open(&w, '{');
		json_w_key(&w, port);
		json_w_open(&w, '{');
		json_w_close(&w);
		json_w_close(&w);
	}
	hostconfig(&w, s, port);
	json_w_close(&w);
	if (json_w_end(&w) < 0)
		return fail(d, "create request for %s too large or not UTF-8", s->name);
	return 0;
}

static int
okid(const char *id)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!strchr("0123456789abcdef", id[i]) || !id[i])
			return 0;
	return id[64] == '\0';
}

/* the rest of docker_create() once a reply with status st is read */
static int
created(struct docker *d, int st, char id[65])
{
	if (st != 201)
		return apierr(d);
	if (json_get_str(d->body, d->blen, "Id", id, 65) != 1 || !okid(id)) {
		id[0] = '\0';
		return badjson(d, "create");
	}
	return 0;
}

int
docker_create(struct docker *d, const struct docker_spec *s, char id[65])
{
	char target[256];
	int st;

	id[0] = '\0';
	d->status = 0;
	if (!name_valid(s->name, NAMELEN))
		return badname(d, "container name", s->name);
	if (!name_valid(s->set, NAMELEN))
		return badname(d, "instance set name", s->set);
	if (!okimage(s->image))
		return fail(d, "invalid image name \"%.128s\"", s->image ? s->image : "(null)");
	if (!s->hostnet && (s->port < 1 || s->port > 65535))
		return fail(d, "invalid container port %d", s->port);
	if (s->network && s->network[0] && !name_valid(s->network, NAMELEN))
		return badname(d, "network name", s->network);
	if (s->memory < 0 || s->nanocpus < 0)
		return fail(d, "invalid memory or CPU limit");
	if (createbody(d, s) < 0)
		return -1;
	snprintf(target, sizeof(target), DOCKER_API "/containers/create?name=%s", s->name);
	if ((st = call(d, "POST", target, d->json, 0, SINK_BODY)) < 0)
		return -1;
	return created(d, st, id);
}

/* POST /containers/<id>/<what>[query] without a body */
static int
action(struct docker *d, const char *id, const char *what, const char *query, int extra_ms)
{
	char target[256];

	if (!name_valid(id, NAMELEN))
		return badname(d, "container name or id", id);
	snprintf(target, sizeof(target), DOCKER_API "/containers/%s/%s%s", id, what, query);
	return call(d, "POST", target, NULL, extra_ms, SINK_BODY);
}

int
docker_start(struct docker *d, const char *id)
{
	int st = action(d, id, "start", "", 0);

	if (st < 0)
		return -1;
	return st == 204 || st == 304 ? 0 : apierr(d);
}

int
docker_stop(struct docker *d, const char *id, int grace_s)
{
	char q[32];
	int st;

	if (grace_s < 0)
		grace_s = 0;
	if (grace_s > 3600)
		grace_s = 3600;
	snprintf(q, sizeof(q), "?t=%d", grace_s);
	if ((st = action(d, id, "stop", q, grace_s * 1000)) < 0)
		return -1;
	return st == 204 || st == 304 ? 0 : apierr(d);
}

int
docker_pause(struct docker *d, const char *id)
{
	int st = action(d, id, "pause", "", 0);

	if (st < 0)
		return -1;
	return st == 204 ? 0 : apierr(d);
}

int
docker_unpause(struct docker *d, const char *id)
{
	int st = action(d, id, "unpause", "", 0);

	if (st < 0)
		return -1;
	return st == 204 ? 0 : apierr(d);
}

int
docker_kill(struct docker *d, const char *id)
{
	int st = action(d, id, "kill", "", 0);

	if (st < 0)
		return -1;
	return st == 204 ? 0 : apierr(d);
}

int
docker_remove(struct docker *d, const char *id)
{
	char target[256];
	int st;

	if (!name_valid(id, NAMELEN))
		return badname(d, "container name or id", id);
	snprintf(target, sizeof(target), DOCKER_API "/containers/%s?force=1", id);
	if ((st = call(d, "DELETE", target, NULL, 0, SINK_BODY)) < 0)
		return -1;
	if (st == 204)
		return 0;
	apierr(d);
	/* gone, or going: AutoRemove or a concurrent remove got there first */
	if (st == 404 || (st == 409 && strstr(d->err, "already in progress")))
		return 0;
	return -1;
}

/* a new log stream: no frame seen yet */
static void
logstart(struct docker *d)
{
	d->fhlen = 0;
	d->fleft = d->ltotal = 0;
	d->raw = d->lcut = 0;
}

/* the kept log bytes as printable lines into out[0..n): tabs become
 * spaces, CR goes, other control bytes become '?', and a line cut short
 * by the bound is left out */
static void
logtext(const struct docker *d, char *out, size_t n)
{
	const char *p = d->body, *end = d->body + d->blen;
	size_t k = 0;
	unsigned char c;

	if (d->lcut)
		p = (p = memchr(p, '\n', d->blen)) ? p + 1 : end;
	for (; p < end && k + 1 < n; p++) {
		c = (unsigned char)*p;
		if (c == '\r')
			continue;
		if (c == '\t')
			c = ' ';
		else if (c != '\n' && (c < 0x20 || c == 0x7f))
			c = '?';
		out[k++] = (char)c;
	}
	out[k] = '\0';
}

/* the rest of docker_logs() once a reply with status st is read */
static int
logged(struct docker *d, int st, char *out, size_t n)
{
	if (st != 200)
		return apierr(d);
	logtext(d, out, n);
	return 0;
}

int
docker_logs(struct docker *d, const char *id, int tail, char *out, size_t n)
{
	char target[256];
	int st;

	out[0] = '\0';
	if (!name_valid(id, NAMELEN))
		return badname(d, "container name or id", id);
	snprintf(target, sizeof(target), DOCKER_API "/containers/%s/logs?stdout=1&stderr=1&tail=%d",
	         id, tail);
	logstart(d);
	if ((st = call(d, "GET", target, NULL, 0, SINK_LOGS)) < 0)
		return -1;
	return logged(d, st, out, n);
}

static int
health(const char *s)
{
	if (strcmp(s, "starting") == 0)
		return DOCKER_HEALTH_STARTING;
	if (strcmp(s, "healthy") == 0)
		return DOCKER_HEALTH_HEALTHY;
	if (strcmp(s, "unhealthy") == 0)
		return DOCKER_HEALTH_UNHEALTHY;
	return DOCKER_HEALTH_NONE;
}

/* reads the object at path (NetworkSettings.Networks) into nets: the
 * first DOCKER_MAXNETS networks, name and IPAddress. Returns 0 or -1 */
static int
netsof(const char *js, size_t n, const char *path, struct docker_net *nets, size_t *nn)
{
	struct json_val obj, k, v, ip;
	size_t pos = 0;
	int r;

	*nn = 0;
	if ((r = json_get(js, n, path, &obj)) != 1 || obj.type != JSON_OBJECT)
		return r < 0 ? -1 : 0;
	while (*nn < DOCKER_MAXNETS && (r = json_object_next(&obj, &pos, &k, &v)) == 1) {
		struct docker_net *e = &nets[*nn];

		if (json_string(&k, e->name, sizeof(e->name)) < 0)
			continue;  /* a name too long cannot be ours */
		e->ip[0] = '\0';
		if (json_get(v.s, v.n, "IPAddress", &ip) == 1 && ip.type == JSON_STRING &&
		    json_string(&ip, e->ip, sizeof(e->ip)) < 0)
			e->ip[0] = '\0';
		(*nn)++;
	}
	return r < 0 ? -1 : 0;
}

/* the rest of docker_inspect() once a reply with status r is read */
static int
inspected(struct docker *d, int r, int port, struct docker_state *st)
{
	char path[64], s[256], big[1024];
	const char *js;
	struct json_val v;
	long long x;
	long hp;
	size_t n;

	if (r != 200)
		return apierr(d);
	js = d->body;
	n = d->blen;
	if (json_get(js, n, "State.Running", &v) != 1 || (st->running = json_bool(&v)) < 0 ||
	    json_get(js, n, "State.ExitCode", &v) != 1 || json_int(&v, &x) < 0 ||
	    json_get_str(js, n, "State.Status", st->status, sizeof(st->status)) != 1 ||
	    json_get_str(js, n, "Name", s, sizeof(s)) < 0 ||
	    (r = json_get_str(js, n, "State.Health.Status", path, sizeof(path))) < 0)
		return badjson(d, "inspect");
	st->exitcode = x < -1000000 || x > 1000000 ? -1 : (int)x;
	if (json_get(js, n, "State.OOMKilled", &v) == 1)
		st->oomkilled = json_bool(&v) == 1;
	if (json_get(js, n, "State.Paused", &v) == 1)
		st->paused = json_bool(&v) == 1;
	if (json_get_str(js, n, "State.Error", big, sizeof(big)) < 0)
		snprintf(big, sizeof(big), "(unreadable)");
	scopy(st->error, sizeof(st->error), big);
	for (char *e = st->error; *e; e++)
		if ((unsigned char)*e < 0x20 || *e == 0x7f)
			*e = '?';
	if (r == 1)
		st->health = health(path);
	scopy(st->name, sizeof(st->name), s[0] == '/' ? s + 1 : s);
	snprintf(path, sizeof(path), "NetworkSettings.Ports[\"%d/tcp\"][0].HostPort", port);
	if ((r = json_get_str(js, n, path, s, sizeof(s))) < 0)
		return badjson(d, "inspect");
	if (r == 1 && parse_int(s, 1, 65535, &hp) == 0)
		st->hostport = (int)hp;
	if (netsof(js, n, "NetworkSettings.Networks", st->nets, &st->nnets) < 0)
		return badjson(d, "inspect");
	return 0;
}

int
docker_inspect(struct docker *d, const char *id, int port, struct docker_state *st)
{
	char target[256];
	int r;

	memset(st, 0, sizeof(*st));
	if (!name_valid(id, NAMELEN))
		return badname(d, "container name or id", id);
	snprintf(target, sizeof(target), DOCKER_API "/containers/%s/json", id);
	if ((r = call(d, "GET", target, NULL, 0, SINK_BODY)) < 0)
		return -1;
	return inspected(d, r, port, st);
}

/* fills c from one entry of a container list */
static int
listentry(const struct json_val *e, int port, struct docker_ctr *c)
{
	struct json_val ports, p, v;
	char name[130];
	long long x;
	size_t pos = 0;
	int r;

	memset(c, 0, sizeof(*c));
	if (json_get_str(e->s, e->n, "Id", c->id, sizeof(c->id)) != 1 || !okid(c->id) ||
	    json_get_str(e->s, e->n, "Names[0]", name, sizeof(name)) < 0 ||
	    json_get_str(e->s, e->n, "State", c->state, sizeof(c->state)) < 0 ||
	    (r = json_get_str(e->s, e->n, "Labels[\"prescal.image\"]", c->image, sizeof(c->image))) < 0 ||
	    (r == 0 && json_get_str(e->s, e->n, "Image", c->image, sizeof(c->image)) < 0))
		return -1;
	scopy(c->name, sizeof(c->name), name[0] == '/' ? name + 1 : name);
	if (netsof(e->s, e->n, "NetworkSettings.Networks", c->nets, &c->nnets) < 0)
		return -1;
	if (json_get(e->s, e->n, "Ports", &ports) != 1 || ports.type != JSON_ARRAY)
		return 0;
	while (json_array_next(&ports, &pos, &p) == 1) {
		if (json_get(p.s, p.n, "PrivatePort", &v) != 1 || json_int(&v, &x) < 0 ||
		    x != port || json_get(p.s, p.n, "Type", &v) != 1 || !json_streq(&v, "tcp") ||
		    json_get(p.s, p.n, "PublicPort", &v) != 1 || json_int(&v, &x) < 0 ||
		    x < 1 || x > 65535)
			continue;
		c->hostport = (int)x;
		break;
	}
	return 0;
}

/* the rest of docker_list() once a reply with status st is read */
static int
listed(struct docker *d, int st, const char *set, int port, struct docker_ctr *out,
       size_t max, size_t *n)
{
	struct json_val arr, e;
	size_t pos = 0;
	int more = 0;

	if (st != 200)
		return apierr(d);
	if (json_get(d->body, d->blen, "", &arr) != 1 || arr.type != JSON_ARRAY)
		return badjson(d, "list");
	while ((st = json_array_next(&arr, &pos, &e)) == 1) {
		if (*n == max) {
			more = 1;
			break;
		}
		if (listentry(&e, port, &out[*n]) < 0) {
			*n = 0;
			return badjson(d, "list");
		}
		(*n)++;
	}
	if (st < 0)
		return badjson(d, "list");
	if (more)
		fail(d, "more than %zu containers in set %s", max, set);
	return more;
}

int
docker_list(struct docker *d, const char *set, int port, struct docker_ctr *out,
            size_t max, size_t *n)
{
	char target[1024], f[768];
	int st;

	*n = 0;
	if (!name_valid(set, NAMELEN))
		return badname(d, "instance set name", set);
	if (filters(d, set, 0, f, sizeof(f)) < 0)
		return -1;
	snprintf(target, sizeof(target), DOCKER_API "/containers/json?all=1&filters=%s", f);
	if ((st = call(d, "GET", target, NULL, 0, SINK_BODY)) < 0)
		return -1;
	return listed(d, st, set, port, out, max, n);
}

/* events */

/* the rest of docker_events_open() once the head is read */
static int
evopened(struct docker *d)
{
	if (d->status == 200 && (d->res.body == HTTP_BODY_CHUNKED ||
	    d->res.body == HTTP_BODY_CLOSE)) {
		d->events = 1;
		d->sink = SINK_EVENTS;
		d->blen = 0;
		http_chunked_init(&d->ch);
		return 0;
	}
	if (finish(d) < 0)
		return -1;
	if (d->status == 200)
		return fail(d, "event stream from %s has no body", d->path);
	return apierr(d);
}

/* GET target as an events stream */
static int
evopen(struct docker *d, const char *target)
{
	int n;

	n = snprintf(d->req, MAXREQ, "GET %s HTTP/1.1\r\nHost: docker\r\n"
	             "User-Agent: prescal/" VERSION "\r\n\r\n", target);
	d->deadline = now_ms() + d->timeout;
	d->sink = SINK_BODY;
	if (exchange(d, n) < 0)
		return -1;
	return evopened(d);
}

int
docker_events_open(struct docker *d, const char *set)
{
	char target[1024], f[768];

	if (set && !name_valid(set, NAMELEN))
		return badname(d, "instance set name", set);
	if (filters(d, set, 1, f, sizeof(f)) < 0)
		return -1;
	snprintf(target, sizeof(target), DOCKER_API "/events?filters=%s", f);
	return evopen(d, target);
}

int
docker_swarm_events_open(struct docker *d)
{
	/* {"type":["service","node"]}: no label filter, since a service
	 * event carries the service's name only */
	return evopen(d, DOCKER_API "/events?filters=%7B%22type%22%3A%5B%22service%22%2C"
	              "%22node%22%5D%7D");
}

/* parses one event line. Returns 1 if it is a container event, 0 to skip */
static int
event(struct docker *d, const char *js, size_t n, struct docker_event *ev)
{
	struct json_val v;
	char act[256], code[16];
	long x;

	memset(ev, 0, sizeof(*ev));
	if (json_valid(js, n) < 0)
		return badjson(d, "event");
	if (json_get(js, n, "Type", &v) == 1 && !json_streq(&v, "container")) {
		/* a service's or a node's (docker_swarm_events_open): the
		 * caller looks at the swarm; its id is not a container's */
		if (!json_streq(&v, "service") && !json_streq(&v, "node"))
			return 0;
		scopy(ev->type, sizeof(ev->type), json_streq(&v, "node") ? "node" : "service");
		if (json_get_str(js, n, "Actor.ID", ev->id, sizeof(ev->id)) != 1 ||
		    !name_valid(ev->id, 64))
			return badjson(d, "event");
	} else if ((json_get_str(js, n, "Actor.ID", ev->id, sizeof(ev->id)) != 1 &&
	           json_get_str(js, n, "id", ev->id, sizeof(ev->id)) != 1) || !okid(ev->id)) {
		return badjson(d, "event");
	} else {
		scopy(ev->type, sizeof(ev->type), "container");
	}
	/* actions such as "exec_start: <command>" may be long: keep the start */
	if ((json_get(js, n, "Action", &v) == 1 || json_get(js, n, "status", &v) == 1) &&
	    v.type == JSON_STRING) {
		if (json_string(&v, act, sizeof(act)) < 0)
			snprintf(act, sizeof(act), "%.*s", (int)MIN(v.n - 2, 64), v.s + 1);
		scopy(ev->action, sizeof(ev->action), act);
	}
	if (json_get_str(js, n, "Actor.Attributes.name", act, sizeof(act)) == 1)
		scopy(ev->name, sizeof(ev->name), act);
	if (json_get_str(js, n, "Actor.Attributes.exitCode", code, sizeof(code)) == 1 &&
	    parse_int(code, -1000000, 1000000, &x) == 0)
		ev->exitcode = (int)x;
	return 1;
}

/* takes the next complete line from the event buffer. Returns 1 with an
 * event, 0 if there is none yet, -1 */
static int
nextline(struct docker *d, struct docker_event *ev)
{
	char *nl;
	size_t k;
	int r;

	while ((nl = memchr(d->body, '\n', d->blen))) {
		k = nl - d->body;
		r = 0;
		if (k > 0 && !(k == 1 && d->body[0] == '\r'))
			r = event(d, d->body, k, ev);
		memmove(d->body, nl + 1, d->blen - k - 1);
		d->blen -= k + 1;
		d->body[d->blen] = '\0';
		if (r != 0)
			return r;
	}
	return 0;
}

int
docker_events_next(struct docker *d, struct docker_event *ev, int timeout_ms)
{
	ssize_t n;
	int r;

	if (!d->events || (d->fd < 0 && !d->src))
		return fail(d, "no event stream open");
	d->deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		if ((r = nextline(d, ev)) != 0)
			break;
		if (d->res.body == HTTP_BODY_CHUNKED) {
			/* events decoded before bad framing come first, however
			 * the bytes were split into reads: the decoder's error
			 * sticks, so the next call reports it */
			if (unchunk(d) < 0) {
				if ((r = nextline(d, ev)) == 0)
					r = -1;
				break;
			}
		} else if (d->len > 0) {
			if ((r = sink(d, d->in + d->off, d->len)) < 0)
				break;
			d->off = d->len = 0;
		}
		if (memchr(d->body, '\n', d->blen))
			continue;
		if (d->ch.done) {
			r = fail(d, "event stream from %s ended", d->path);
			break;
		}
		if ((n = fill(d)) < 0 && errno == ETIMEDOUT)
			return 0;
		if (n <= 0) {
			r = n == 0 ? fail(d, "event stream from %s closed by the daemon", d->path) :
			    readerr(d, n);
			break;
		}
	}
	if (r < 0)
		disconnect(d);
	return r;
}

/* replies */

/* reads the head of a recorded reply in buf[0..n) as if from the socket.
 * Returns 0 or -1 */
static int
replay(struct docker *d, const char *buf, size_t n, size_t step, int mode)
{
	int st;

	disconnect(d);
	d->src = buf;
	d->srclen = n;
	d->srcstep = step;
	d->status = 0;
	d->err[0] = '\0';
	d->pullerr[0] = '\0';
	d->sink = mode;
	logstart(d);
	if ((st = readhead(d)) < 0) {
		if (st == -2)
			fail(d, "%s closed the connection without a response", d->path);
		disconnect(d);
		return -1;
	}
	return 0;
}

int
docker_parse_reply(struct docker *d, struct docker_reply *rep, const char *buf, size_t n,
                   size_t step)
{
	int st;

	rep->id[0] = '\0';
	memset(&rep->st, 0, sizeof(rep->st));
	rep->nctr = 0;
	rep->logs[0] = '\0';
	if (replay(d, buf, n, step, rep->call == DOCKER_CALL_PULL ? SINK_PULL :
	           rep->call == DOCKER_CALL_LOGS ? SINK_LOGS : SINK_BODY) < 0)
		return -1;
	if (rep->call == DOCKER_CALL_EVENTS) {
		/* on success the stream stays open for docker_events_next() */
		if ((st = evopened(d)) < 0)
			disconnect(d);
		return st;
	}
	if ((st = finish(d)) >= 0) {
		switch (rep->call) {
		case DOCKER_CALL_CREATE:
			st = created(d, st, rep->id);
			break;
		case DOCKER_CALL_INSPECT:
			st = inspected(d, st, rep->port, &rep->st);
			break;
		case DOCKER_CALL_LIST:
			st = listed(d, st, "(replay)", rep->port, rep->ctr, rep->max, &rep->nctr);
			break;
		case DOCKER_CALL_PULL:
			st = pulled(d, st, "(replay)");
			break;
		case DOCKER_CALL_LOGS:
			st = logged(d, st, rep->logs, sizeof(rep->logs));
			break;
		default:
			st = fail(d, "no such call %d", (int)rep->call);
			break;
		}
	}
	disconnect(d);
	return st;
}

/* generic requests */

int
docker_seterror(struct docker *d, const char *fmt, ...)
{
	va_list ap;

	d->status = 0;
	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* the rest of docker_request() once a reply with status st is read */
static int
answered(struct docker *d, int st, const char **body, size_t *n)
{
	*body = d->body;
	*n = d->blen;
	if (st >= 300)
		apierr(d);
	return st;
}

int
docker_request(struct docker *d, const char *method, const char *target, const char *json,
               const char **body, size_t *n)
{
	int st;

	*body = "";
	*n = 0;
	d->status = 0;
	if (target[0] != '/' || target[strcspn(target, " \t\r\n")] ||
	    method[strcspn(method, " \t\r\n")])
		return fail(d, "invalid request target \"%.128s\"", target);
	if ((st = call(d, method, target, json, 0, SINK_BODY)) < 0)
		return -1;
	return answered(d, st, body, n);
}

int
docker_parse_raw(struct docker *d, const char *buf, size_t n, size_t step, const char **body,
                 size_t *blen)
{
	int st;

	*body = "";
	*blen = 0;
	if (replay(d, buf, n, step, SINK_BODY) < 0)
		return -1;
	if ((st = finish(d)) >= 0)
		st = answered(d, st, body, blen);
	disconnect(d);
	return st;
}
