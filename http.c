/* See LICENSE file for copyright and license details. */
/* http.c: pure HTTP/1.1 parsers. Every function here works on the caller's
 * bytes only: no I/O, no allocation, no global state, never a read past
 * buf[len - 1].
 *
 * The head parsers rescan from the start on every call. Each check fires at
 * a fixed byte (a line's checks at its CRLF, a size limit at the first byte
 * over it), so a prefix of a message gives either -2 or the same error as
 * the whole message. */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "http.h"
#include "util.h"

#define CLEN_MAX (1ULL << 63)   /* largest Content-Length and chunk size */

enum { SCAN_OK, SCAN_MORE, SCAN_BARE, SCAN_LONG };

enum {
	C_SIZE0,    /* first hex digit of chunk-size */
	C_SIZE,     /* more hex digits, BWS, ';' or CR */
	C_BWS,      /* whitespace after the size: only ';' may follow */
	C_EXT,      /* chunk-ext up to CR */
	C_SIZELF,   /* LF of the size line */
	C_DATA,     /* chunk-data */
	C_DATACR,   /* CR after chunk-data */
	C_DATALF,   /* LF after chunk-data */
	C_TSTART,   /* start of a trailer line or the final CRLF */
	C_TNAME,    /* trailer field name */
	C_TVAL,     /* trailer field value up to CR */
	C_TLF,      /* LF of a trailer line */
	C_ENDLF,    /* LF of the final CRLF */
	C_DONE,
	C_ERR
};

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
isalnum_(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* tchar, RFC 9110 5.6.2 */
static int
istchar(int c)
{
	return isalnum_(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* a byte allowed in a field value or reason phrase: not a CTL except HTAB */
static int
isvchar(int c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* uri-host [ ":" port ], RFC 3986 3.2.2, including IP-literal brackets */
static int
ishostchar(int c)
{
	return isalnum_(c) || (c && strchr("-._~%!$&'()*+,;=:[]", c));
}

static int
isows(int c)
{
	return c == ' ' || c == '\t';
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int
allhost(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!ishostchar((unsigned char)s[i]))
			return 0;
	return 1;
}

/* 1*DIGIT up to CLEN_MAX. Returns 0, or -1 if not one. */
static int
parseclen(const char *s, size_t n, unsigned long long *v)
{
	unsigned long long x = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (x > (CLEN_MAX - (s[i] - '0')) / 10)
			return -1;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return 0;
}

/* Finds the CRLF of the line starting at buf[i], looking no further than
 * buf[end - 1]. SCAN_LONG once the line holds more than max bytes before
 * its CRLF. On SCAN_OK *eol is the offset of the CR. */
static int
scanline(const char *buf, size_t i, size_t end, size_t max, size_t *eol)
{
	size_t start = i;

	for (; i < end; i++) {
		if (buf[i] == '\n')
			return SCAN_BARE;
		if (buf[i] == '\r') {
			if (i + 1 == end)
				return SCAN_MORE;
			if (buf[i + 1] != '\n')
				return SCAN_BARE;
			*eol = i;
			return SCAN_OK;
		}
		if (i - start >= max)
			return SCAN_LONG;
	}
	return SCAN_MORE;
}

/* Parses one field line p[0..n) (no CRLF) into h[*nh]. Returns 0, 400 if
 * malformed or 431 if there is no room left. */
static int
field(const char *p, size_t n, struct http_header *h, size_t *nh, size_t max)
{
	size_t i, s, e;

	/* token then colon: no obs-fold (RFC 9112 5.2), no space before the colon (5.1) */
	for (i = 0; i < n && istchar((unsigned char)p[i]); i++)
		;
	if (i == 0 || i == n || p[i] != ':')
		return 400;
	for (s = i + 1; s < n; s++)
		if (!isvchar((unsigned char)p[s]))
			return 400;
	for (s = i + 1; s < n && isows(p[s]); s++)
		;
	for (e = n; e > s && isows(p[e - 1]); e--)
		;
	if (*nh >= max)
		return 431;
	h[*nh].name = p;
	h[*nh].nlen = i;
	h[*nh].value = p + s;
	h[*nh].vlen = e - s;
	(*nh)++;
	return 0;
}

/* Reads the field lines from buf[*i] to the empty line. Returns 0 with *i
 * past the empty line, -2 to wait for more, or an HTTP status. */
static int
fields(const char *buf, size_t len, size_t *i, size_t maxhead, size_t maxhdr,
       struct http_header *h, size_t *nh)
{
	size_t end = MIN(len, maxhead), eol;
	int r;

	for (;;) {
		r = scanline(buf, *i, end, SIZE_MAX, &eol);
		if (r == SCAN_MORE)
			return len > maxhead ? 431 : -2;
		if (r != SCAN_OK)
			return 400;
		if (eol == *i)
			break;
		if ((r = field(buf + *i, eol - *i, h, nh, maxhdr)))
			return r;
		*i = eol + 2;
	}
	*i = eol + 2;
	return 0;
}

/* "HTTP/1.x". Returns 0, 505 for another major version or 400 if it is
 * not a version. A higher minor version is taken as 1.1 (RFC 9110 2.5). */
static int
reqversion(const char *p, size_t n, int *minor)
{
	if (n != 8 || memcmp(p, "HTTP/", 5) || p[6] != '.' ||
	    p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9')
		return 400;
	if (p[5] != '1')
		return 505;
	*minor = p[7] == '0' ? 0 : 1;
	return 0;
}

/* methods are case-sensitive (RFC 9110 9.1) */
static int
ismethod(const struct http_request *req, const char *m)
{
	return req->mlen == strlen(m) && !memcmp(req->method, m, req->mlen);
}

/* Sorts the request-target into path and authority (RFC 9112 3.2). */
static int
reqtarget(struct http_request *req)
{
	const char *t = req->target;
	size_t n = req->tlen, s, a;

	/* authority-form is for tunnels, which we do not do */
	if (ismethod(req, "CONNECT"))
		return 405;
	/* a fragment is never sent in a request-target (RFC 9110 4.2.5) */
	if (memchr(t, '#', n))
		return 400;
	if (t[0] == '/') {
		req->path = t;
		req->pathlen = n;
		return 0;
	}
	if (n == 1 && t[0] == '*') {
		if (!ismethod(req, "OPTIONS"))
			return 400;
		req->path = t;
		req->pathlen = 1;
		return 0;
	}
	if (n > 7 && http_eq(t, 7, "http://"))
		s = 7;
	else if (n > 8 && http_eq(t, 8, "https://"))
		s = 8;
	else
		return 400;
	for (a = s; a < n && t[a] != '/' && t[a] != '?'; a++)
		;
	if (a == s || !allhost(t + s, a - s))
		return 400;
	req->authority = t + s;
	req->alen = a - s;
	req->path = a < n ? t + a : "/";
	req->pathlen = a < n ? n - a : 1;
	return 0;
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 3) */
static int
reqline(const char *p, size_t n, struct http_request *req)
{
	size_t i, t;
	int r;

	for (i = 0; i < n && istchar((unsigned char)p[i]); i++)
		;
	if (i == 0 || i == n || p[i] != ' ')
		return 400;
	req->method = p;
	req->mlen = i;
	for (t = ++i; i < n && (unsigned char)p[i] > ' ' && p[i] != 0x7f &&
	    (unsigned char)p[i] < 0x80; i++)
		;
	if (i == t || i == n || p[i] != ' ')
		return 400;
	req->target = p + t;
	req->tlen = i - t;
	if ((r = reqversion(p + i + 1, n - i - 1, &req->minor)))
		return r;
	return reqtarget(req);
}

/* Host, Content-Length and Transfer-Encoding decide where the message ends,
 * so anything doubtful about them is an error (RFC 9112 6.3, 3.2). */
static int
reqframing(struct http_request *req)
{
	const struct http_header *h, *cl = NULL, *te = NULL;
	size_t i, nhost = 0;

	for (i = 0; i < req->nhdr; i++) {
		h = &req->hdr[i];
		if (http_eq(h->name, h->nlen, "host")) {
			nhost++;
			req->host = h->value;
			req->hostlen = h->vlen;
		} else if (http_eq(h->name, h->nlen, "content-length")) {
			if (cl)
				return 400;
			cl = h;
		} else if (http_eq(h->name, h->nlen, "transfer-encoding")) {
			if (te)
				return 400;
			te = h;
		}
	}
	if (nhost > 1 || (nhost == 0 && req->minor == 1))
		return 400;
	if (req->host && !allhost(req->host, req->hostlen))
		return 400;
	if (te) {
		if (cl || req->minor == 0 || te->vlen == 0)
			return 400;
		if (!http_eq(te->value, te->vlen, "chunked"))
			return 501;
		req->body = HTTP_BODY_CHUNKED;
	} else if (cl) {
		if (parseclen(cl->value, cl->vlen, &req->clen))
			return 400;
		req->body = req->clen ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
	}
	return 0;
}

/* fields that decide where a message ends or where it goes: a Connection
 * that names one would have it stripped as hop-by-hop while the message is
 * framed by it (request smuggling), so such a message is refused */
static const char *const framing_fields[] = {
	"content-length", "transfer-encoding", "host",
};

/* whether the Connection value v[0..n) names a framing field */
static int
names_framing(const char *v, size_t n)
{
	for (size_t i = 0; i < LEN(framing_fields); i++)
		if (http_list_has(v, n, framing_fields[i]))
			return 1;
	return 0;
}

/* Connection, Upgrade and Expect (RFC 9112 9.3, RFC 9110 7.6.1, 7.8,
 * 10.1.1). Only a WebSocket upgrade of a GET without a body is an upgrade
 * (RFC 6455 4.1); any other (h2c above all) is dropped. Returns a status. */
static int
reqconn(struct http_request *req)
{
	const struct http_header *h;
	size_t i;
	int shut = 0, ka = 0, up = 0, ws = 0, nup = 0, expect = 0;

	for (i = 0; i < req->nhdr; i++) {
		h = &req->hdr[i];
		if (http_eq(h->name, h->nlen, "connection")) {
			if (names_framing(h->value, h->vlen))
				return 400;
			shut |= http_list_has(h->value, h->vlen, "close");
			ka |= http_list_has(h->value, h->vlen, "keep-alive");
			up |= http_list_has(h->value, h->vlen, "upgrade");
		} else if (http_eq(h->name, h->nlen, "upgrade")) {
			nup++;
			ws = http_list_has(h->value, h->vlen, "websocket");
		} else if (http_eq(h->name, h->nlen, "expect") && !expect) {
			expect = 1;
			req->expect100 = http_eq(h->value, h->vlen, "100-continue");
		}
	}
	req->keepalive = !shut && (req->minor == 1 || ka);
	req->upgrade = nup == 1 && ws && up && req->minor == 1 && req->body == HTTP_BODY_NONE &&
	    req->mlen == 3 && !memcmp(req->method, "GET", 3);
	return 0;
}

static int
reqfail(struct http_request *req, int status)
{
	req->status = status;
	return -1;
}

int
http_parse_request(const char *buf, size_t len, const struct http_limits *lim,
                   struct http_request *req)
{
	struct http_header *hdr = req->hdr;
	size_t i = 0, eol, maxhead = MIN(lim->max_head, INT_MAX);
	size_t end = MIN(len, maxhead);
	int r;

	memset(req, 0, sizeof(*req));
	req->hdr = hdr;

	/* empty lines before the request-line are ignored (RFC 9112 2.2) */
	for (;;) {
		r = scanline(buf, i, end, lim->max_line, &eol);
		if (r == SCAN_MORE)
			return len > maxhead ? reqfail(req, 431) : -2;
		if (r != SCAN_OK)
			return reqfail(req, r == SCAN_LONG ? 414 : 400);
		if (eol > i)
			break;
		i = eol + 2;
	}
	if ((r = reqline(buf + i, eol - i, req)))
		return reqfail(req, r);

	i = eol + 2;
	if ((r = fields(buf, len, &i, maxhead, lim->max_headers, req->hdr, &req->nhdr)))
		return r == -2 ? -2 : reqfail(req, r);
	if ((r = reqframing(req)) || (r = reqconn(req)))
		return reqfail(req, r);
	return (int)i;
}

/* status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ] (RFC 9112 4);
 * a missing SP before an empty reason is tolerated. */
static int
statusline(const char *p, size_t n, struct http_response *res)
{
	size_t i;

	if (n < 12 || memcmp(p, "HTTP/1.", 7) || p[7] < '0' || p[7] > '9' ||
	    p[8] != ' ')
		return -1;
	for (i = 9; i < 12; i++)
		if (p[i] < '0' || p[i] > '9')
			return -1;
	if ((n > 12 && p[12] != ' ') || p[9] == '0')
		return -1;
	for (i = 13; i < n; i++)
		if (!isvchar((unsigned char)p[i]))
			return -1;
	res->minor = p[7] - '0';
	res->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	res->reason = n > 12 ? p + 13 : p + 12;
	res->rlen = n > 12 ? n - 13 : 0;
	return 0;
}

/* Finds the last non-empty element of the list v[0..n) into *e, *en. */
static void
lastelem(const char *v, size_t n, const char **e, size_t *en)
{
	size_t s, t, i = n;

	while (i > 0) {
		for (t = i; t > 0 && isows(v[t - 1]); t--)
			;
		for (s = t; s > 0 && v[s - 1] != ','; s--)
			;
		for (i = s; i < t && isows(v[i]); i++)
			;
		if (i < t) {
			*e = v + i;
			*en = t - i;
			return;
		}
		i = s > 0 ? s - 1 : 0;
	}
}

/* Message body length of a response (RFC 9112 6.3). Returns 0 or -1. */
static int
resframing(struct http_response *res, int is_head)
{
	const struct http_header *h;
	const char *fin = NULL;
	unsigned long long v;
	size_t i, finlen = 0;
	int ncl = 0, te = 0, shut = 0, ka = 0;

	for (i = 0; i < res->nhdr; i++) {
		h = &res->hdr[i];
		if (http_eq(h->name, h->nlen, "content-length")) {
			/* repeated fields are allowed if identical (RFC 9110 8.6) */
			if (parseclen(h->value, h->vlen, &v) || (ncl++ && v != res->clen))
				return -1;
			res->clen = v;
		} else if (http_eq(h->name, h->nlen, "transfer-encoding")) {
			te = 1;
			lastelem(h->value, h->vlen, &fin, &finlen);
		} else if (http_eq(h->name, h->nlen, "connection")) {
			if (names_framing(h->value, h->vlen))
				return -1;
			shut |= http_list_has(h->value, h->vlen, "close");
			ka |= http_list_has(h->value, h->vlen, "keep-alive");
		}
	}
	if (is_head || res->status < 200 || res->status == 204 || res->status == 304)
		res->body = HTTP_BODY_NONE;
	else if (te)
		res->body = fin && http_eq(fin, finlen, "chunked") ?
		    HTTP_BODY_CHUNKED : HTTP_BODY_CLOSE;
	else if (ncl)
		res->body = res->clen ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
	else
		res->body = HTTP_BODY_CLOSE;
	if (te)
		res->clen = 0;
	/* TE with CL or in HTTP/1.0 smells of smuggling: do not reuse (6.1) */
	res->keepalive = res->body != HTTP_BODY_CLOSE && !shut &&
	    (res->minor > 0 || ka) && !(te && (ncl || res->minor == 0));
	return 0;
}

int
http_parse_response(const char *buf, size_t len, const struct http_limits *lim,
                    int is_head, struct http_response *res)
{
	struct http_header *hdr = res->hdr;
	size_t i, eol, maxhead = MIN(lim->max_head, INT_MAX);
	size_t end = MIN(len, maxhead);
	int r;

	memset(res, 0, sizeof(*res));
	res->hdr = hdr;
	r = scanline(buf, 0, end, SIZE_MAX, &eol);
	if (r == SCAN_MORE)
		return len > maxhead ? -1 : -2;
	if (r != SCAN_OK || statusline(buf, eol, res))
		return -1;
	i = eol + 2;
	if ((r = fields(buf, len, &i, maxhead, lim->max_headers, res->hdr, &res->nhdr)))
		return r == -2 ? -2 : -1;
	if (resframing(res, is_head))
		return -1;
	return (int)i;
}

void
http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = C_SIZE0;
}

/* Advances the size line by one byte. Returns the next state. */
static int
sizebyte(struct http_chunked *c, int ch, const struct http_limits *lim)
{
	int d = hexval(ch);

	if (ch != '\r' && ++c->line > lim->max_chunk_line)
		return C_ERR;
	switch (c->state) {
	case C_SIZE0:
		if (d < 0)
			return C_ERR;
		c->left = d;
		return C_SIZE;
	case C_SIZE:
		if (d >= 0) {
			/* at most 16 digits, and no more than 2^63 */
			if (c->line > 16 || c->left > (CLEN_MAX - d) / 16)
				return C_ERR;
			c->left = c->left * 16 + d;
			return C_SIZE;
		}
		if (ch == '\r')
			return C_SIZELF;
		if (ch == ';')
			return C_EXT;
		return isows(ch) ? C_BWS : C_ERR;
	case C_BWS:
		if (ch == ';')
			return C_EXT;
		return isows(ch) ? C_BWS : C_ERR;
	default: /* C_EXT: token, quoted-string and BWS bytes, no CTL */
		if (ch == '\r')
			return C_SIZELF;
		return isvchar(ch) ? C_EXT : C_ERR;
	}
}

/* whether the trailer field whose name ends here is one that frames or
 * routes the message: a recipient that merged it into the head would see
 * another message (RFC 9110 6.5.1) */
static int
framing_trailer(const struct http_chunked *c)
{
	size_t n = c->line - 1;

	if (n >= sizeof(c->tname))
		return 0;
	for (size_t i = 0; i < LEN(framing_fields); i++)
		if (http_eq(c->tname, n, framing_fields[i]))
			return 1;
	return 0;
}

/* Advances the trailer section by one byte: field lines checked as in a
 * head (RFC 9112 7.1.2), then the final CRLF. Returns the next state. */
static int
trailerbyte(struct http_chunked *c, int ch, const struct http_limits *lim)
{
	if (c->state == C_TSTART) {
		if (ch == '\r')
			return C_ENDLF;
		c->line = 0;
	}
	if (++c->trailer > lim->max_trailer)
		return C_ERR;
	c->line++;
	switch (c->state) {
	case C_TSTART:
	case C_TNAME:
		if (ch == ':')
			return c->line > 1 && !framing_trailer(c) ? C_TVAL : C_ERR;
		if (c->line < sizeof(c->tname))
			c->tname[c->line - 1] = (char)ch;
		return istchar(ch) ? C_TNAME : C_ERR;
	case C_TVAL:
		if (ch == '\r')
			return C_TLF;
		return isvchar(ch) ? C_TVAL : C_ERR;
	default: /* C_TLF */
		return ch == '\n' ? C_TSTART : C_ERR;
	}
}

ssize_t
http_chunked_step(struct http_chunked *c, const char *buf, size_t len,
                  const struct http_limits *lim, const char **data, size_t *dlen)
{
	size_t i = 0, n;
	int ch;

	*data = NULL;
	*dlen = 0;
	while (i < len && c->state != C_DONE) {
		ch = (unsigned char)buf[i];
		switch (c->state) {
		case C_ERR:
			return -1;
		case C_SIZE0: case C_SIZE: case C_BWS: case C_EXT:
			c->state = sizebyte(c, ch, lim);
			break;
		case C_SIZELF:
			if (ch != '\n')
				c->state = C_ERR;
			else
				c->state = c->left ? C_DATA : C_TSTART;
			c->line = 0;
			break;
		case C_DATA:
			n = MIN(c->left, len - i);
			*data = buf + i;
			*dlen = n;
			c->left -= n;
			if (c->left == 0)
				c->state = C_DATACR;
			return i + n;
		case C_DATACR:
			c->state = ch == '\r' ? C_DATALF : C_ERR;
			break;
		case C_DATALF:
			c->state = ch == '\n' ? C_SIZE0 : C_ERR;
			break;
		case C_ENDLF:
			if (ch != '\n')
				c->state = C_ERR;
			else {
				c->state = C_DONE;
				c->done = 1;
			}
			break;
		default: /* trailer lines */
			c->state = trailerbyte(c, ch, lim);
			break;
		}
		if (c->state == C_ERR)
			return -1;
		i++;
	}
	return c->state == C_ERR ? -1 : (ssize_t)i;
}

const struct http_header *
http_header_find(const struct http_header *h, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (http_eq(h[i].name, h[i].nlen, name))
			return &h[i];
	return NULL;
}

int
http_list_has(const char *v, size_t n, const char *token)
{
	size_t i = 0, s, e;

	while (i < n) {
		for (s = i; s < n && v[s] != ','; s++)
			;
		for (e = s; e > i && isows(v[e - 1]); e--)
			;
		for (; i < e && isows(v[i]); i++)
			;
		if (e > i && http_eq(v + i, e - i, token))
			return 1;
		i = s + 1;
	}
	return 0;
}

int
http_eq(const char *a, size_t n, const char *b)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!b[i] || lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return b[n] == '\0';
}

const char *
http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 205: return "Reset Content";
	case 206: return "Partial Content";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 305: return "Use Proxy";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 425: return "Too Early";
	case 426: return "Upgrade Required";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default:  return "Unknown";
	}
}
