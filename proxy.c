/* See LICENSE file for copyright and license details. */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "pool.h"
#include "proxy.h"
#include "scale.h"
#include "app.h"
#include "util.h"

/* what a request step returns: ST_OK to go on, the status to answer with
 * (its value is the HTTP code), or an outcome beside them */
enum status {
	ST_OK               = 0,
	ST_BAD_REQUEST      = 400,
	ST_NOT_FOUND        = 404,  /* no app matches */
	ST_REQUEST_TIMEOUT  = 408,
	ST_FIELDS_TOO_LARGE = 431,
	ST_BAD_GATEWAY      = 502,
	ST_UNAVAILABLE      = 503,
	ST_GATEWAY_TIMEOUT  = 504,
	/* outcomes */
	ST_ABORTED = -1,     /* no answer can be given (the client is gone, or
	                        response bytes went out): close */
	ST_STARTING = 1000,  /* send the "starting" page */
	ST_HOLD,             /* nothing ready: park the request until something is */
	ST_FAILING,          /* the app fails to start: 503 with the cause */
	ST_STALE,            /* a cached backend connection failed before any
	                        response byte: try again on a fresh one */
	ST_UNANSWERED,       /* the backend failed or closed before any response byte */
};

/* conf is immutable after proxy_init(); the rest are atomics */
static struct proxy_conf C;
static atomic_int draining;
static atomic_long st_requests, st_bytes, st_status[6];
static atomic_long st_hist[PROXY_NBUCKETS], st_sum_us;
static atomic_int tunnels_open;    /* upgraded connections, bounded by max_tunnels */

const double proxy_buckets[PROXY_NBUCKETS] = {
	0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 1e300,
};

/* one request in flight: what the steps below share */
struct exchange {
	struct worker *w;
	struct conn *c;
	struct http_request req;
	struct http_response res;
	struct backend *b;
	int bfd;               /* backend socket, -1 if none */
	int reused;            /* bfd came from the idle cache */
	int fresh;             /* a cached connection was stale: connect anew */
	int head_len;          /* request head length in c->buf */
	int status;            /* status sent to the client */
	int sent_any;          /* response bytes went to the client */
	int is_head, idem, html;  /* HEAD; idempotent; a browser GET (taken before the
	                             head leaves c->buf: req's pointers die then) */
	const char *pend;      /* response head not yet written (sent with the body) */
	size_t pendlen;
	int keep;              /* client connection persists */
	int tunslot;           /* holds one of max_tunnels (an upgrade request) */
	int handoff;           /* a 101 was relayed: the tunnel takes both sockets */
	int64_t rx_start;      /* ms: the request body began to be read */
	long long rx;          /* request body bytes read from the client */
	int64_t tx_start;      /* ms: the response began to be written */
	int bkeep;             /* backend connection may be cached */
	long bytes;            /* bytes written to the client */
	int64_t start;
	long start_us;         /* CLOCK_MONOTONIC, microseconds */
	char lreq[300];        /* for the access log: "METHOD target HTTP/1.x" */
	char lback[72];        /* for the access log: backend name */
};

void
proxy_init(const struct proxy_conf *conf)
{
	C = *conf;
}

/* bytes rounded up to whole 64-byte lines, so every part stays aligned */
static size_t
lines(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

int
proxy_worker_init(struct worker *w, size_t ccap, size_t rcap, size_t max_headers)
{
	size_t hsz = lines(max_headers * sizeof(*w->hdr)), total;
	char *p;

	/* one anonymous mapping per worker: no page of it is resident until
	 * a request touches it, so an idle worker costs its stack and little
	 * else (malloc would touch a header page per buffer) */
	w->rcap = rcap;
	w->ocap = C.lim.max_head + 4096;
	total = lines(ccap) + lines(rcap) + lines(w->ocap) + 2 * hsz;
	p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
	         -1, 0);
	if (p == MAP_FAILED)
		return -1;
	w->map = p;
	w->maplen = total;
	w->cbuf = p;
	w->rbuf = p += lines(ccap);
	w->obuf = p += lines(rcap);
	w->hdr = (struct http_header *)(void *)(p += lines(w->ocap));
	w->rhdr = (struct http_header *)(void *)(p + hsz);
	return 0;
}

void
proxy_worker_trim(struct worker *w)
{
	madvise(w->map, w->maplen, MADV_DONTNEED);
}

void
proxy_set_draining(int on)
{
	atomic_store(&draining, on);
}

void
proxy_get_stats(struct proxy_stats *st)
{
	long cum = 0;

	st->requests = atomic_load(&st_requests);
	st->bytes_out = atomic_load(&st_bytes);
	for (int i = 0; i < 6; i++)
		st->status[i] = atomic_load(&st_status[i]);
	for (int i = 0; i < PROXY_NBUCKETS; i++)
		st->hist[i] = cum += atomic_load(&st_hist[i]);
	st->sum = atomic_load(&st_sum_us) / 1e6;
}

void
proxy_error(int fd, int status, const char *extra)
{
	char buf[512];
	const char *reason = http_reason(status);
	int n, blen = (int)strlen(reason) + 5;

	n = snprintf(buf, sizeof(buf), "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
	             "Content-Length: %d\r\nConnection: close\r\n%s\r\n%d %s\n",
	             status, reason, blen, extra ? extra : "", status, reason);
	if (n > 0 && n < (int)sizeof(buf))
		writeall(fd, buf, n);
}

static void
put_header(struct buf *o, const struct http_header *h)
{
	buf_addn(o, h->name, h->nlen);
	buf_addn(o, ": ", 2);
	buf_addn(o, h->value, h->vlen);
	buf_addn(o, "\r\n", 2);
}

/* whether the comma-separated list v[0..vn) holds name[0..nn), any case */
static int
listed(const char *v, size_t vn, const char *name, size_t nn)
{
	size_t i = 0, j;

	while (i < vn) {
		while (i < vn && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		for (j = i; j < vn && v[j] != ','; j++)
			;
		size_t e = j;
		while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - i == nn && nn > 0 && !strncasecmp(v + i, name, nn))
			return 1;
		i = j;
	}
	return 0;
}

/* RFC 9110 7.6.1: hop-by-hop fields, and every field Connection names */
static int
hop_by_hop(const struct http_header *hdr, size_t n, const struct http_header *h, int upgrade)
{
	static const char *const hop[] = {
		"connection", "keep-alive", "proxy-connection", "te", "trailer",
		"http2-settings", "upgrade",
	};
	size_t i;

	for (i = 0; i < LEN(hop); i++)
		if (http_eq(h->name, h->nlen, hop[i]))
			return !(upgrade && i == LEN(hop) - 1);
	for (i = 0; i < n; i++)
		if (http_eq(hdr[i].name, hdr[i].nlen, "connection") &&
		    listed(hdr[i].value, hdr[i].vlen, h->name, h->nlen))
			return 1;
	return 0;
}

/* builds the request head for the backend in w->obuf; returns its length or -1 */
static int
build_request(struct exchange *x)
{
	struct http_request *r = &x->req;
	struct buf o = { x->w->obuf, 0, x->w->ocap, 0 };
	const struct http_header *h;
	const char *host = r->authority ? r->authority : r->host;
	size_t hostlen = r->authority ? r->alen : r->hostlen, i;
	int xff = 0;

	buf_addn(&o, r->method, r->mlen);
	buf_addn(&o, " ", 1);
	if (r->pathlen && r->path[0] == '?')
		buf_addn(&o, "/", 1);
	buf_addn(&o, r->path, r->pathlen);
	buf_add(&o, " HTTP/1.1\r\n");
	/* RFC 9112 3.2: HTTP/1.1 needs Host, empty when the client gave none */
	buf_add(&o, "Host: ");
	if (host)
		buf_addn(&o, host, hostlen);
	buf_add(&o, "\r\n");
	for (i = 0; i < r->nhdr; i++) {
		h = &r->hdr[i];
		if (http_eq(h->name, h->nlen, "host") || http_eq(h->name, h->nlen, "expect") ||
		    http_eq(h->name, h->nlen, "x-forwarded-proto") ||
		    http_eq(h->name, h->nlen, "x-forwarded-host") ||
		    hop_by_hop(r->hdr, r->nhdr, h, r->upgrade))
			continue;
		if (http_eq(h->name, h->nlen, "x-forwarded-for")) {
			/* appended to below, one field for all */
			xff = 1;
			continue;
		}
		put_header(&o, h);
	}
	buf_add(&o, "X-Forwarded-For: ");
	for (i = 0; xff && i < r->nhdr; i++) {
		h = &r->hdr[i];
		if (http_eq(h->name, h->nlen, "x-forwarded-for") && h->vlen) {
			buf_addn(&o, h->value, h->vlen);
			buf_addn(&o, ", ", 2);
		}
	}
	buf_add(&o, x->c->peer);
	buf_add(&o, "\r\nX-Forwarded-Proto: http\r\n");
	if (host) {
		buf_add(&o, "X-Forwarded-Host: ");
		buf_addn(&o, host, hostlen);
		buf_add(&o, "\r\n");
	}
	buf_add(&o, r->minor ? "Via: 1.1 prescal\r\n" : "Via: 1.0 prescal\r\n");
	if (r->upgrade)
		buf_add(&o, "Connection: upgrade\r\n");
	buf_add(&o, "\r\n");
	return o.over ? -1 : (int)o.len;
}

/* whether a failed attempt may be sent again: nothing of the body was read */
static int
replayable(const struct exchange *x)
{
	return x->req.body == HTTP_BODY_NONE;
}

/* whether the client is a browser that takes a "starting" page */
static int
wants_html(const struct exchange *x)
{
	const struct http_header *h = http_header_find(x->req.hdr, x->req.nhdr, "accept");

	if (!h || x->req.mlen != 3 || memcmp(x->req.method, "GET", 3))
		return 0;
	for (size_t i = 0; i + 9 <= h->vlen; i++)
		if (http_eq(h->value + i, 9, "text/html"))
			return 1;
	return 0;
}

/* ends c's hold, if it has one */
static void
unhold(struct conn *c)
{
	if (c->holding) {
		pool_unhold(c->app->pool);
		c->holding = 0;
	}
}

void
proxy_release(struct conn *c)
{
	unhold(c);
	if (c->app) {
		app_put(c->app);
		c->app = NULL;
	}
}

/*
 * the first pick, while the head is still in c->buf: 0 with x->b, ST_HOLD
 * when the request should wait parked (it then holds one of hold_max until
 * hold_timeout after it first waited), or a status
 */
static int
first_pick(struct exchange *x)
{
	struct conn *c = x->c;
	struct app *a = c->app;
	int r = pool_pick(a->pool, &x->b, NULL, 0);

	if (r == POOL_WAIT && c->holding && now_ms() < c->hold_until)
		return ST_HOLD;
	/* anything but a first wait ends a hold */
	if (r != POOL_WAIT || c->holding || x->html) {
		unhold(c);
		if (r == POOL_FAILING)
			return ST_FAILING;
		if (r == POOL_WAIT)  /* the page refreshes; the pick told the scaler */
			return x->html ? ST_STARTING : 503;
		return r;
	}
	if (a->hold_timeout == 0 || pool_hold(a->pool) < 0)
		return 503;
	c->holding = 1;
	c->hold_until = now_ms() + a->hold_timeout;
	c->hold_us = x->start_us;
	return ST_HOLD;
}

/* connects to a backend: cached connection first, then new ones; returns a status */
static int
connect_backend(struct exchange *x, struct backend **tried, int *ntried)
{
	int r;

	if (x->b) {
		tried[(*ntried)++] = x->b;
		goto picked;
	}
	while (*ntried < C.max_tries) {
		/* the head has left c->buf: no holding now */
		if ((r = pool_pick(x->c->app->pool, &x->b, tried, *ntried)) != 0)
			return *ntried ? 502 : r == POOL_WAIT || r == POOL_FAILING ? 503 : r;
		tried[(*ntried)++] = x->b;
picked:
		/* every cached connection is checked: bytes or EOF waiting on it
		 * belong to no request of ours */
		if (!x->fresh && (x->bfd = pool_conn_get(x->b)) >= 0) {
			x->reused = 1;
			return 0;
		}
		x->reused = 0;
		x->bfd = connect_tcp(&x->b->addr, x->b->addrlen, C.connect_timeout);
		if (x->bfd >= 0) {
			sock_timeouts(x->bfd, C.backend_timeout, C.send_timeout);
			return 0;
		}
		warn("connect %s:", x->b->name);
		pool_done(x->b, 0);
		x->b = NULL;
	}
	return 502;
}

/*
 * how long a transfer that began at start (ms) and has moved bytes may
 * still wait for the peer: at most idle_ms per wait, and in all no longer
 * than min_rate_grace plus what min_rate allows for the bytes so far (the
 * idea of Apache's mod_reqtimeout MinRate). <= 0: too slow.
 */
static int
rate_wait(int64_t start, long long bytes, int idle_ms)
{
	int64_t left = idle_ms;

	if (C.min_rate > 0)
		left = MIN(left, start + C.min_rate_grace + bytes * 1000 / C.min_rate - now_ms());
	return left > 0 ? (int)left : 0;
}

/* waits until fd is ready for events within rate_wait(); 0, or -1 when the
 * peer is too slow (logged) */
static int
wait_peer(struct exchange *x, int fd, short events, int64_t start, long long bytes, int idle)
{
	struct pollfd p = { .fd = fd, .events = events };
	int ms = rate_wait(start, bytes, idle), r;

	while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
		;
	if (r > 0)
		return 0;
	if (ms < idle || r == 0)
		warn("client %s too slow: %lld bytes of the %s in %lld ms", x->c->peer, bytes,
		     events == POLLIN ? "request body" : "response", (long long)(now_ms() - start));
	return -1;
}

/* reads more of the client's body into c->buf (which the caller emptied) */
static int
client_fill(struct exchange *x, size_t max)
{
	struct conn *c = x->c;
	ssize_t r;

	for (;;) {
		r = recv(c->fd, c->buf + c->len, MIN(max, c->cap - c->len), MSG_DONTWAIT);
		if (r > 0) {
			c->len += r;
			x->rx += r;
			return ST_OK;
		}
		if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			return ST_ABORTED;
		if (errno != EINTR && wait_peer(x, c->fd, POLLIN, x->rx_start, x->rx,
		                                C.body_timeout) < 0)
			return ST_REQUEST_TIMEOUT;
	}
}

/* drops n bytes from the front of c->buf */
static void
consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* streams a Content-Length body from the client; returns a status */
static int
body_length(struct exchange *x)
{
	struct conn *c = x->c;
	unsigned long long left = x->req.clen;
	size_t n;
	int r;

	while (left > 0) {
		if (c->len == 0) {
			r = client_fill(x, MIN(left, (unsigned long long)c->cap));
			if (r)
				return r == ST_REQUEST_TIMEOUT ? r : ST_BAD_REQUEST;
		}
		n = MIN((unsigned long long)c->len, left);
		if (writeall(x->bfd, c->buf, n) < 0)
			return ST_BAD_GATEWAY;
		consume(c, n);
		left -= n;
	}
	return ST_OK;
}

/* whether the chunked body bytes in c->buf from off on are malformed */
static int
bad_chunks(struct conn *c, size_t off)
{
	struct http_chunked ch;
	const char *data;
	size_t dlen;
	ssize_t n;

	http_chunked_init(&ch);
	while (!ch.done && off < c->len) {
		if ((n = http_chunked_step(&ch, c->buf + off, c->len - off, &C.lim, &data, &dlen)) < 0)
			return 1;
		if (n == 0)
			break;
		off += n;
	}
	return 0;
}

/* streams a chunked body verbatim, validating its framing; returns a status */
static int
body_chunked(struct exchange *x)
{
	struct conn *c = x->c;
	struct http_chunked ch;
	const char *data;
	size_t dlen, off;
	ssize_t n;
	int r;

	http_chunked_init(&ch);
	while (!ch.done) {
		off = 0;
		while (!ch.done && off < c->len) {
			n = http_chunked_step(&ch, c->buf + off, c->len - off, &C.lim, &data, &dlen);
			if (n < 0)
				return ST_BAD_REQUEST;
			off += n;
			if (n == 0)
				break;
		}
		if (off && writeall(x->bfd, c->buf, off) < 0)
			return ST_BAD_GATEWAY;
		consume(c, off);
		if (ch.done)
			break;
		if (c->len == c->cap)
			return ST_BAD_REQUEST;  /* a framing line longer than the buffer */
		if ((r = client_fill(x, c->cap)))
			return r == ST_REQUEST_TIMEOUT ? r : ST_BAD_REQUEST;
	}
	return ST_OK;
}

/* sends the request head and body; returns a status */
static int
send_request(struct exchange *x, int hlen)
{
	if (writeall(x->bfd, x->w->obuf, hlen) < 0)
		return ST_BAD_GATEWAY;
	x->rx_start = now_ms();
	if (x->req.expect100 && x->req.minor == 1 && x->req.body != HTTP_BODY_NONE &&
	    x->c->len == 0) {
		/* we read the body ourselves, so we answer the expectation (RFC 9110 10.1.1) */
		if (writeall(x->c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
			return ST_BAD_REQUEST;
	}
	if (x->req.body == HTTP_BODY_LENGTH)
		return body_length(x);
	if (x->req.body == HTTP_BODY_CHUNKED)
		return body_chunked(x);
	return ST_OK;
}

/* reads a response head into w->rbuf; returns 0, or a status; *got bytes read */
static int
read_response_head(struct exchange *x, size_t *got, int *hlen)
{
	struct worker *w = x->w;
	int is_head = x->is_head;
	ssize_t r;

	for (;;) {
		x->res.hdr = w->rhdr;
		if (*got) {
			*hlen = http_parse_response(w->rbuf, *got, &C.lim, is_head, &x->res);
			if (*hlen > 0)
				return ST_OK;
			if (*hlen == -1)
				return ST_BAD_GATEWAY;
		}
		do
			r = recv(x->bfd, w->rbuf + *got, w->rcap - *got, 0);
		while (r < 0 && errno == EINTR);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return ST_GATEWAY_TIMEOUT;
		if (r <= 0)
			return *got == 0 ? ST_UNANSWERED : ST_BAD_GATEWAY;
		*got += r;
	}
}

/* builds the response head for the client in w->obuf */
static int
build_response(struct exchange *x, int dechunk)
{
	struct http_response *s = &x->res;
	struct buf o = { x->w->obuf, 0, x->w->ocap, 0 };
	int te = http_header_find(s->hdr, s->nhdr, "transfer-encoding") != NULL;
	size_t i;

	buf_printf(&o, "HTTP/1.1 %d ", s->status);
	buf_addn(&o, s->reason, s->rlen);
	buf_add(&o, "\r\n");
	for (i = 0; i < s->nhdr; i++) {
		const struct http_header *h = &s->hdr[i];
		if (hop_by_hop(s->hdr, s->nhdr, h, s->status == 101))
			continue;
		/* no Transfer-Encoding to an HTTP/1.0 client (RFC 9112 6.1), and
		 * no Content-Length beside it (RFC 9112 6.3) */
		if ((x->req.minor == 0 || dechunk) && http_eq(h->name, h->nlen, "transfer-encoding"))
			continue;
		if (te && http_eq(h->name, h->nlen, "content-length"))
			continue;
		put_header(&o, h);
	}
	if (s->status == 101)
		buf_add(&o, "Connection: upgrade\r\n");
	else if (!x->keep)
		buf_add(&o, "Connection: close\r\n");
	else if (x->req.minor == 0)
		buf_add(&o, "Connection: keep-alive\r\n");
	buf_add(&o, "\r\n");
	return o.over ? -1 : (int)o.len;
}

/* writes the pending response head (if any) and p[0..n) in one sendmsg,
 * waiting for a slow reader within min_rate */
static int
to_client(struct exchange *x, const char *p, size_t n)
{
	/* iovec wants non-const pointers; sendmsg only reads them */
	struct iovec iov[2] = { { (void *)(uintptr_t)x->pend, x->pendlen },
	                        { (void *)(uintptr_t)p, n } };
	struct msghdr m = { .msg_iov = x->pendlen ? iov : iov + 1, .msg_iovlen = x->pendlen ? 2 : 1 };
	size_t total = x->pendlen + n;
	ssize_t r;

	x->pendlen = 0;
	if (!x->sent_any)
		x->tx_start = now_ms();
	x->sent_any = 1;
	while (total > 0) {
		r = sendmsg(x->c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_peer(x, x->c->fd, POLLOUT, x->tx_start, x->bytes, C.send_timeout) < 0)
				return -1;
			continue;
		}
		if (r <= 0)
			return -1;
		x->bytes += r;
		total -= r;
		while (m.msg_iovlen > 0 && (size_t)r >= m.msg_iov->iov_len) {
			r -= m.msg_iov->iov_len;
			m.msg_iov++;
			m.msg_iovlen--;
		}
		if (m.msg_iovlen > 0) {
			m.msg_iov->iov_base = (char *)m.msg_iov->iov_base + r;
			m.msg_iov->iov_len -= r;
		}
	}
	return 0;
}

/* relays a response body; rbuf[0..have) already holds its first bytes */
static int
relay_body(struct exchange *x, size_t have, int dechunk)
{
	struct worker *w = x->w;
	unsigned long long left = x->res.clen;
	struct http_chunked ch;
	const char *data;
	size_t dlen, off, n;
	ssize_t r, k;

	http_chunked_init(&ch);
	for (;;) {
		switch (x->res.body) {
		case HTTP_BODY_LENGTH:
			n = MIN((unsigned long long)have, left);
			if (n < have)
				x->bkeep = 0;  /* bytes after the body: do not reuse */
			if (n && to_client(x, w->rbuf, n) < 0)
				return -1;
			if ((left -= n) == 0)
				return 0;
			break;
		case HTTP_BODY_CHUNKED:
			for (off = 0; !ch.done && off < have; off += k) {
				k = http_chunked_step(&ch, w->rbuf + off, have - off, &C.lim, &data, &dlen);
				if (k < 0)
					return -1;
				if (dechunk && dlen && to_client(x, data, dlen) < 0)
					return -1;
				if (k == 0)
					break;
			}
			if (!dechunk && off && to_client(x, w->rbuf, off) < 0)
				return -1;
			if (ch.done) {
				if (off < have)
					x->bkeep = 0;
				return 0;
			}
			/* keep an unfinished framing line for the next read */
			memmove(w->rbuf, w->rbuf + off, have - off);
			have -= off;
			if (have == w->rcap)
				return -1;
			goto read;
		case HTTP_BODY_CLOSE:
			if (have && to_client(x, w->rbuf, have) < 0)
				return -1;
			break;
		default:
			return 0;
		}
		have = 0;
read:
		do
			r = recv(x->bfd, w->rbuf + have, x->res.body == HTTP_BODY_LENGTH ?
			         MIN(w->rcap - have, left) : w->rcap - have, 0);
		while (r < 0 && errno == EINTR);
		if (r == 0 && x->res.body == HTTP_BODY_CLOSE)
			return 0;
		if (r <= 0)
			return -1;
		have += r;
	}
}

/* after a relayed 101: the bytes either side sent early go through, then
 * both sockets and the pick pass to c for proxy_tunnel() */
static int
handoff(struct exchange *x, size_t have, size_t hlen)
{
	struct conn *c = x->c;

	if (have > hlen && to_client(x, x->w->rbuf + hlen, have - hlen) < 0)
		return ST_ABORTED;
	if (c->len && writeall(x->bfd, c->buf, c->len) < 0)
		return ST_ABORTED;
	c->len = 0;
	atomic_fetch_add(&x->b->tunnels, 1);
	c->tun_fd = x->bfd;
	c->tun_b = x->b;
	x->bfd = -1;
	x->b = NULL;
	x->tunslot = 0;
	x->handoff = 1;
	return ST_OK;
}

void
proxy_tunnel(struct conn *c)
{
	struct pollfd p[2] = { { .fd = c->fd, .events = POLLIN },
	                       { .fd = c->tun_fd, .events = POLLIN } };
	char buf[PROXY_TUNNEL_BUF];
	ssize_t r;
	int i;

	while (poll(p, 2, C.tunnel_timeout) > 0) {
		for (i = 0; i < 2; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = recv(p[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0 || writeall(p[!i].fd, buf, r) < 0)
				goto done;
		}
	}
done:
	proxy_tunnel_end(c);
}

void
proxy_tunnel_end(struct conn *c)
{
	atomic_fetch_sub(&c->tun_b->tunnels, 1);
	pool_done(c->tun_b, 1);
	close(c->tun_fd);
	c->tun_fd = -1;
	c->tun_b = NULL;
	atomic_fetch_sub(&tunnels_open, 1);
	proxy_release(c);
}

static void
access_log(struct exchange *x)
{
	char line[1024];
	int n;

	if (!C.access_log)
		return;
	n = snprintf(line, sizeof(line), "%s \"%s\" %d %ld %s %lld %s\n", x->c->peer,
	             x->lreq[0] ? x->lreq : "-", x->status, x->bytes,
	             x->lback[0] ? x->lback : "-", (long long)(now_ms() - x->start),
	             x->c->app ? x->c->app->name : "-");
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	(void)!write(1, line, n);
}

static void
count(struct exchange *x)
{
	struct timespec ts;
	double secs;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	long now_us = ts.tv_sec * 1000000L + ts.tv_nsec / 1000L;
	secs = (double)(now_us - x->start_us) / 1e6;
	for (i = 0; i < PROXY_NBUCKETS - 1 && secs > proxy_buckets[i]; i++)
		;
	atomic_fetch_add(&st_hist[i], 1);
	atomic_fetch_add(&st_sum_us, (long)(secs * 1e6));
	atomic_fetch_add(&st_requests, 1);
	atomic_fetch_add(&st_bytes, x->bytes);
	if (x->status >= 100 && x->status < 600)
		atomic_fetch_add(&st_status[x->status / 100], 1);
	if (x->c->app) {
		struct app *a = x->c->app;
		atomic_fetch_add(&a->requests, 1);
		atomic_fetch_add(&a->bytes, x->bytes);
		if (x->status >= 100 && x->status < 600)
			atomic_fetch_add(&a->status[x->status / 100], 1);
	}
	access_log(x);
}

/* a page that reloads itself until an instance is up */
static void
starting_page(int fd)
{
	static const char page[] =
		"<!doctype html><html><head><meta charset=\"utf-8\">"
		"<meta http-equiv=\"refresh\" content=\"1\"><title>Starting</title></head>"
		"<body style=\"font-family:sans-serif;margin:3em\"><h1>Starting&hellip;</h1>"
		"<p>The service is starting. This page reloads by itself.</p></body></html>\n";
	char head[256];
	int n;

	n = snprintf(head, sizeof(head), "HTTP/1.1 503 Service Unavailable\r\n"
	             "Content-Type: text/html; charset=utf-8\r\nContent-Length: %zu\r\n"
	             "Retry-After: 1\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
	             sizeof(page) - 1);
	if (writeall(fd, head, n) == 0)
		writeall(fd, page, sizeof(page) - 1);
}

/* appends s to o with &, <, >, " escaped */
static void
put_html(struct buf *o, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': buf_addn(o, "&amp;", 5); break;
		case '<': buf_addn(o, "&lt;", 4); break;
		case '>': buf_addn(o, "&gt;", 4); break;
		case '"': buf_addn(o, "&quot;", 6); break;
		default:  buf_addn(o, s, 1); break;
		}
	}
}

/* the app fails to start: 503, Retry-After the back-off left, and the
 * cause as plain text, or for a browser as a page that reloads then */
static void
failing_answer(struct exchange *x)
{
	char cause[POOL_CAUSE], body[6 * POOL_CAUSE + 512], head[320];
	struct buf o = { body, 0, sizeof(body), 0 };
	int retry = pool_failing(x->c->app->pool, cause, sizeof(cause)), n;

	if (!retry) {  /* the back-off ended meanwhile */
		snprintf(cause, sizeof(cause), "the app is starting");
		retry = 1;
	}
	if (x->html) {
		buf_printf(&o, "<!doctype html><html><head><meta charset=\"utf-8\">"
		           "<meta http-equiv=\"refresh\" content=\"%d\"><title>Failed to start"
		           "</title></head><body style=\"font-family:sans-serif;margin:3em\">"
		           "<h1>Failed to start</h1><p>", retry);
		put_html(&o, cause);
		buf_printf(&o, "</p><p>The next try is in %d s; this page "
		           "reloads by itself.</p></body></html>\n", retry);
	} else {
		buf_add(&o, cause);
		buf_add(&o, "\n");
	}
	n = snprintf(head, sizeof(head), "HTTP/1.1 503 Service Unavailable\r\n"
	             "Content-Type: %s; charset=utf-8\r\nContent-Length: %zu\r\n"
	             "Retry-After: %d\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
	             x->html ? "text/html" : "text/plain", o.len, retry);
	if (writeall(x->c->fd, head, n) == 0 && !x->is_head)
		writeall(x->c->fd, body, o.len);
}

/* answers with an error unless response bytes already went out */
static int
fail(struct exchange *x, int status)
{
	if (status == ST_STARTING || status == ST_FAILING) {
		if (status == ST_STARTING)
			starting_page(x->c->fd);
		else
			failing_answer(x);
		x->status = ST_UNAVAILABLE;
		return PROXY_CLOSE;
	}
	if (!x->sent_any) {
		const char *extra = status == ST_UNAVAILABLE ? "Retry-After: 1\r\n" : NULL;
		proxy_error(x->c->fd, status, extra);
		x->status = status;
	}
	return PROXY_CLOSE;
}

/* one attempt: connect, send, read the response head; returns ST_OK, a
 * status, ST_STALE when a reused connection failed before any response
 * byte, or ST_UNANSWERED when a fresh one did */
static int
attempt(struct exchange *x, int hlen, size_t *got, int *rhlen,
        struct backend **tried, int *ntried)
{
	int r;

	if ((r = connect_backend(x, tried, ntried)))
		return r;
	if (C.access_log)
		snprintf(x->lback, sizeof(x->lback), "%s", x->b->name);
	if ((r = send_request(x, hlen)))
		return r != ST_BAD_GATEWAY ? r : x->reused ? ST_STALE : ST_UNANSWERED;
	*got = 0;
	for (;;) {
		r = read_response_head(x, got, rhlen);
		if (r == ST_UNANSWERED)
			return x->reused ? ST_STALE : ST_UNANSWERED;
		if (r)
			return r;
		if (x->res.status >= 200 || x->res.status == 101)
			return ST_OK;
		/* 1xx: forward informational responses but our own 100 */
		if (x->res.status != 100 && x->req.minor == 1 &&
		    to_client(x, x->w->rbuf, *rhlen) < 0)
			return ST_BAD_REQUEST;
		memmove(x->w->rbuf, x->w->rbuf + *rhlen, *got - *rhlen);
		*got -= *rhlen;
	}
}


/* RFC 9110 9.2.2: requests that may be sent twice */
static int
idempotent(const struct exchange *x)
{
	static const char *const m[] = { "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE" };

	for (size_t i = 0; i < LEN(m); i++)
		if (x->req.mlen == strlen(m[i]) && !memcmp(x->req.method, m[i], x->req.mlen))
			return 1;
	return 0;
}

static void
release_backend(struct exchange *x, int ok)
{
	if (x->bfd >= 0) {
		if (ok && x->bkeep)
			pool_conn_put(x->b, x->bfd);
		else
			close(x->bfd);
		x->bfd = -1;
	}
	if (x->b) {
		pool_done(x->b, ok);
		x->b = NULL;
	}
}

/* a 101 is relayed only as the WebSocket upgrade the client asked for */
static int
upgraded(const struct exchange *x)
{
	const struct http_header *h = http_header_find(x->res.hdr, x->res.nhdr, "upgrade");

	return x->req.upgrade && h && http_list_has(h->value, h->vlen, "websocket");
}

static int
respond(struct exchange *x, size_t got, int rhlen)
{
	int dechunk = x->res.body == HTTP_BODY_CHUNKED && x->req.minor == 0;
	int n;

	if (x->res.status == 101 && !upgraded(x))
		return ST_BAD_GATEWAY;
	/* bytes after a complete body-less response are nobody's answer */
	if (x->res.body == HTTP_BODY_NONE && got > (size_t)rhlen && x->res.status != 101)
		x->bkeep = 0;
	x->status = x->res.status;
	if (x->status >= 100 && x->status < 600)
		atomic_fetch_add(&x->b->status[x->status / 100], 1);
	if (x->res.body == HTTP_BODY_CLOSE || dechunk)
		x->keep = 0;
	if ((n = build_response(x, dechunk)) < 0)
		return ST_BAD_GATEWAY;
	x->pend = x->w->obuf;
	x->pendlen = n;
	if (x->res.status == 101 || x->res.body == HTTP_BODY_NONE || got == (size_t)rhlen) {
		/* nothing to send along: the head goes alone */
		if (to_client(x, NULL, 0) < 0)
			return ST_ABORTED;
	}
	if (x->res.status == 101)
		return handoff(x, got, rhlen);
	memmove(x->w->rbuf, x->w->rbuf + rhlen, got - rhlen);
	if (relay_body(x, got - rhlen, dechunk) < 0)
		return ST_ABORTED;
	return ST_OK;
}

/* sends the request to backends until one answers with a head, retrying
 * stale cached connections and dying backends where that is safe;
 * returns 0 or a status */
static int
forward(struct exchange *x, int hlen, size_t *got, int *rhlen)
{
	struct backend *tried[16];
	int ntried = 0, r, again = 1;

	for (;;) {
		r = attempt(x, hlen, got, rhlen, tried, &ntried);
		if (r != ST_STALE && r != ST_UNANSWERED)
			return r;
		close(x->bfd);
		x->bfd = -1;
		if (r == ST_STALE) {
			/* a stale cached connection: once more on a fresh one, if the
			 * method allows it (RFC 9110 9.2.2): the backend may have got
			 * the request before it closed, as a draining instance that is
			 * stopped at drain_timeout does */
			pool_done(x->b, 1);
			ntried--;
			x->fresh = 1;
			r = again-- && x->idem ? ST_OK : ST_BAD_GATEWAY;
		} else {
			/* closed before answering (a dying instance): another backend */
			warn("backend %s closed the connection before answering", x->b->name);
			pool_done(x->b, 0);
			r = x->idem ? ST_OK : ST_BAD_GATEWAY;
		}
		x->b = NULL;
		if (r || !replayable(x))
			return ST_BAD_GATEWAY;
	}
}

/* reads the request head's fields that outlive it in c->buf */
static int
prepare(struct exchange *x)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	x->start_us = ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
	if (x->c->holding) {
		/* a held request's time runs from its first try */
		x->start -= (x->start_us - x->c->hold_us) / 1000;
		x->start_us = x->c->hold_us;
	}
	x->req.hdr = x->w->hdr;
	if ((x->head_len = http_parse_request(x->c->buf, x->c->len, &C.lim, &x->req)) < 0)
		return x->req.status ? x->req.status : ST_BAD_REQUEST;
	if (C.access_log)
		snprintf(x->lreq, sizeof(x->lreq), "%.*s %.*s HTTP/1.%d",
		         (int)MIN(x->req.mlen, 32), x->req.method, (int)MIN(x->req.tlen, 256),
		         x->req.target, x->req.minor);
	x->keep = x->req.keepalive && !atomic_load(&draining);
	x->is_head = x->req.mlen == 4 && !memcmp(x->req.method, "HEAD", 4);
	x->idem = idempotent(x);
	x->html = wants_html(x);
	return ST_OK;
}

/* the request's app (a held one keeps its own): ST_OK or 404 */
static int
route(struct exchange *x)
{
	struct http_request *r = &x->req;

	if (!x->c->app) {
		x->c->app = r->authority ? app_route(r->authority, r->alen, r->path, r->pathlen) :
		            app_route(r->host, r->host ? r->hostlen : 0, r->path, r->pathlen);
		if (!x->c->app)
			return ST_NOT_FOUND;
	}
	/* browsers get the starting page only from apps that want it */
	x->html = x->html && x->c->app->starting_page && x->c->app->fleet;
	return ST_OK;
}

/* the steps before the head may leave c->buf: parse, rewrite, check, pick */
static int
begin(struct exchange *x, int *hlen)
{
	int r;

	if ((r = prepare(x)) || (r = route(x)))
		return r;
	if ((*hlen = build_request(x)) < 0)
		return ST_FIELDS_TOO_LARGE;
	/* what we already hold of a chunked body is malformed: no backend sees any of it */
	if (x->req.body == HTTP_BODY_CHUNKED && bad_chunks(x->c, x->head_len))
		return ST_BAD_REQUEST;
	if ((r = first_pick(x)))
		return r;
	if (x->req.upgrade) {
		if (atomic_fetch_add(&tunnels_open, 1) >= C.max_tunnels) {
			atomic_fetch_sub(&tunnels_open, 1);
			release_backend(x, 1);
			return ST_UNAVAILABLE;
		}
		x->tunslot = 1;
	}
	return ST_OK;
}

/* forwards the request and relays the response; returns ST_OK, a status to
 * answer with, or ST_ABORTED once the answer cannot be given */
static int
exchange(struct exchange *x, int hlen)
{
	size_t got = 0;
	int rhlen = 0, r;

	if ((r = forward(x, hlen, &got, &rhlen))) {
		x->bkeep = 0;
		release_backend(x, r != ST_BAD_GATEWAY && r != ST_GATEWAY_TIMEOUT);
		return r;
	}
	if ((r = respond(x, got, rhlen))) {
		x->bkeep = 0;
		release_backend(x, r == ST_ABORTED);
		return r;
	}
	if (!x->res.keepalive)
		x->bkeep = 0;
	release_backend(x, 1);
	return ST_OK;
}

int
proxy_serve(struct worker *w, struct conn *c)
{
	struct exchange x = { .w = w, .c = c, .bfd = -1, .bkeep = 1, .start = now_ms() };
	int hlen = 0, r;

	if ((r = begin(&x, &hlen)) == ST_HOLD)
		return PROXY_HOLD;  /* the head stays in c->buf for the next try */
	if (r == ST_OK) {
		consume(c, x.head_len);
		r = exchange(&x, hlen);
	}
	if (r != ST_OK && r != ST_ABORTED)
		fail(&x, r);
	if (x.tunslot)
		atomic_fetch_sub(&tunnels_open, 1);
	count(&x);
	if (x.handoff)
		return PROXY_TUNNEL;  /* proxy_tunnel_end() ends the app's reference */
	proxy_release(c);
	return r == ST_OK && x.keep ? PROXY_KEEP : PROXY_CLOSE;
}
