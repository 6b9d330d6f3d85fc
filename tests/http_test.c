/* See LICENSE file for copyright and license details. */
/* http_test.c: table tests for http.c. Every table row runs twice: on the
 * whole input, and fed one byte more (or, for chunked bodies, one byte) at
 * a time. Inputs sit right before a PROT_NONE page, so an over-read
 * crashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"
#include "util.h"

#define IN(s) .in = (s), .len = sizeof(s) - 1
#define BAD(s, st, nm) { IN(s), .status = (st), .name = (nm) }
#define CHECK(c, ...) do { if (!(c)) fail_msg(__VA_ARGS__); } while (0)

/* 16, 64 and 200 filler bytes */
#define X16 "xxxxxxxxxxxxxxxx"
#define X64 X16 X16 X16 X16
#define X200 X64 X64 X64 "xxxxxxxx"

/* small limits so every one can be hit */
static const struct http_limits lim = {
	.max_line = 64,
	.max_head = 256,
	.max_headers = 8,
	.max_chunk_line = 32,
	.max_trailer = 64,
};

static char *guard;   /* two pages; the second is PROT_NONE */
static size_t pagesz;

struct rq {
	const char *in;
	size_t len;
	int status;                    /* 0: accepted; else req.status after -1 */
	size_t head;                   /* head length; 0: the whole input */
	const char *method;            /* checked if not NULL */
	int minor;
	enum http_body body;
	unsigned long long clen;
	int ka, expect100, upgrade;
	const char *path, *host, *authority;  /* NULL: must be NULL (path: unchecked) */
	size_t nhdr;                   /* checked if not 0 */
	const char *name;
};

struct rs {
	const char *in;
	size_t len;
	int bad;                       /* 1: -1 expected */
	int is_head;
	size_t head;                   /* head length; 0: the whole input */
	int minor, status;
	enum http_body body;
	unsigned long long clen;
	int ka;
	const char *reason;            /* checked if not NULL */
	const char *name;
};

struct ck {
	const char *in;
	size_t len;
	int bad;                       /* 1: -1 expected */
	int done;
	size_t used;                   /* bytes consumed; 0: the whole input */
	const char *data;              /* decoded data */
	const char *name;
};

static const struct rq reqs[] = {
	/* accepted */
	{ IN("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), .method = "GET", .minor = 1,
	  .ka = 1, .path = "/", .host = "a", .nhdr = 1, .name = "simple GET" },
	{ IN("GET / HTTP/1.0\r\n\r\n"), .minor = 0, .ka = 0, .path = "/",
	  .name = "1.0 without Host" },
	{ IN("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), .ka = 1,
	  .path = "/", .name = "1.0 keep-alive" },
	{ IN("GET / HTTP/1.0\r\nConnection: Keep-Alive, close\r\n\r\n"), .ka = 0,
	  .path = "/", .name = "1.0 keep-alive and close" },
	{ IN("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), .minor = 1,
	  .ka = 0, .path = "/", .host = "a", .name = "1.1 close" },
	{ IN("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, ,\t CLOSE ,\r\n\r\n"),
	  .minor = 1, .ka = 0, .path = "/", .host = "a", .name = "close in a list" },
	{ IN("GET / HTTP/1.1\r\nConnection: foo\r\nHost: a\r\nConnection: close\r\n\r\n"),
	  .minor = 1, .ka = 0, .path = "/", .host = "a", .nhdr = 3,
	  .name = "two Connection fields" },
	{ IN("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n"), .minor = 1,
	  .ka = 1, .path = "/", .host = "a", .name = "closed is not close" },
	{ IN("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), .method = "GET", .minor = 1,
	  .ka = 1, .path = "/", .host = "a", .name = "leading CRLFs" },
	{ IN("GET /a/b?c=d&e HTTP/1.1\r\nHost: a\r\n\r\n"), .minor = 1, .ka = 1,
	  .path = "/a/b?c=d&e", .host = "a", .name = "origin-form with query" },
	{ IN("GET http://example.com:8080/x?y HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"),
	  .minor = 1, .ka = 1, .path = "/x?y", .host = "example.com:8080",
	  .authority = "example.com:8080", .name = "absolute-form with path" },
	{ IN("GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n"),
	  .minor = 1, .ka = 1, .path = "/", .host = "example.com",
	  .authority = "example.com", .name = "absolute-form without path" },
	{ IN("GET HTTPS://Ex.com/ HTTP/1.1\r\nHost: x\r\n\r\n"), .minor = 1, .ka = 1,
	  .path = "/", .host = "x", .authority = "Ex.com", .name = "absolute-form HTTPS" },
	{ IN("GET http://a?q HTTP/1.1\r\nHost: a\r\n\r\n"), .minor = 1, .ka = 1,
	  .path = "?q", .host = "a", .authority = "a", .name = "absolute-form query only" },
	{ IN("GET http://[::1]:80/ HTTP/1.0\r\n\r\n"), .path = "/",
	  .authority = "[::1]:80", .name = "absolute-form IPv6" },
	{ IN("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), .method = "OPTIONS", .minor = 1,
	  .ka = 1, .path = "*", .host = "a", .name = "OPTIONS *" },
	{ IN("M-SEARCH /x HTTP/1.1\r\nHost: a\r\n\r\n"), .method = "M-SEARCH",
	  .minor = 1, .ka = 1, .path = "/x", .host = "a", .name = "extension method" },
	{ IN("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"),
	  .head = 48, .minor = 1, .body = HTTP_BODY_LENGTH, .clen = 5, .ka = 1,
	  .path = "/p", .host = "a", .name = "Content-Length, body untouched" },
	{ IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), .minor = 1,
	  .body = HTTP_BODY_NONE, .ka = 1, .path = "/", .host = "a",
	  .name = "Content-Length 0" },
	{ IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \t 7 \t\r\n\r\n"), .minor = 1,
	  .body = HTTP_BODY_LENGTH, .clen = 7, .ka = 1, .path = "/", .host = "a",
	  .name = "Content-Length with OWS" },
	{ IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n"), .minor = 1,
	  .body = HTTP_BODY_LENGTH, .clen = 7, .ka = 1, .path = "/", .host = "a",
	  .name = "Content-Length leading zeros" },
	{ IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n"),
	  .minor = 1, .body = HTTP_BODY_LENGTH, .clen = 9223372036854775808ULL, .ka = 1,
	  .path = "/", .host = "a", .name = "Content-Length 2^63" },
	{ IN("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  .minor = 1, .body = HTTP_BODY_CHUNKED, .ka = 1, .path = "/", .host = "a",
	  .name = "chunked" },
	{ IN("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n"),
	  .minor = 1, .body = HTTP_BODY_CHUNKED, .ka = 1, .path = "/", .host = "a",
	  .name = "chunked after HTAB" },
	{ IN("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChunKed  \r\n\r\n"),
	  .minor = 1, .body = HTTP_BODY_CHUNKED, .ka = 1, .path = "/", .host = "a",
	  .name = "chunked, mixed case and OWS" },
	{ IN("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n"),
	  .minor = 1, .body = HTTP_BODY_LENGTH, .clen = 1, .ka = 1, .expect100 = 1,
	  .path = "/", .host = "a", .name = "Expect 100-continue" },
	{ IN("PUT / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\n\r\n"), .minor = 1, .ka = 1,
	  .path = "/", .host = "a", .name = "other Expect ignored" },
	{ IN("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
	  .minor = 1, .ka = 1, .upgrade = 1, .path = "/", .host = "a", .name = "Upgrade" },
	{ IN("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"), .minor = 1,
	  .ka = 1, .path = "/", .host = "a", .name = "Upgrade without Connection" },
	{ IN("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n"), .minor = 1,
	  .ka = 1, .path = "/", .host = "a", .name = "Connection upgrade alone" },
	/* issue 12: only a WebSocket upgrade of a body-less GET is one */
	{ IN("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
	     "HTTP2-Settings: AAMAAABk\r\n\r\n"), .minor = 1, .ka = 1, .path = "/", .host = "a",
	  .name = "h2c is no upgrade" },
	{ IN("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c, WebSocket\r\nConnection: upgrade\r\n\r\n"),
	  .minor = 1, .ka = 1, .upgrade = 1, .path = "/", .host = "a",
	  .name = "websocket among upgrade tokens" },
	{ IN("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n"
	     "Connection: upgrade\r\n\r\n"), .minor = 1, .ka = 1, .path = "/", .host = "a",
	  .name = "two Upgrade fields" },
	{ IN("POST / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
	     "Content-Length: 1\r\n\r\n"), .minor = 1, .ka = 1, .body = HTTP_BODY_LENGTH,
	  .clen = 1, .path = "/", .host = "a", .name = "upgrade of a POST" },
	{ IN("GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"),
	  .minor = 0, .path = "/", .name = "upgrade in HTTP/1.0" },
	/* issue 12: a Connection that names the framing */
	BAD("POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\nContent-Length: 1\r\n\r\n",
	    400, "Connection: Content-Length"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Connection: close,\tTRANSFER-ENCODING \r\n\r\n", 400, "Connection: TE among tokens"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: host\r\n\r\n",
	    400, "second Connection names Host"),
	{ IN("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), .minor = 1, .ka = 1,
	  .path = "/", .host = "[::1]:8080", .name = "Host IPv6 literal" },
	{ IN("GET / HTTP/1.1\r\nHost: a-b.c_d~%41!$&'()*+,;=\r\n\r\n"), .minor = 1,
	  .ka = 1, .path = "/", .host = "a-b.c_d~%41!$&'()*+,;=", .name = "Host sub-delims" },
	{ IN("GET / HTTP/1.1\r\nHost:\r\n\r\n"), .minor = 1, .ka = 1, .path = "/",
	  .host = "", .name = "empty Host" },
	{ IN("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\nY: a\tb\r\nZ:\r\n\r\n"),
	  .minor = 1, .ka = 1, .path = "/", .host = "a", .nhdr = 4,
	  .name = "obs-text, HTAB, empty value" },
	{ IN("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n"),
	  .head = 28, .minor = 1, .ka = 1, .path = "/a", .host = "a",
	  .name = "pipelined: second untouched" },
	{ IN("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\n"
	  "G: 7\r\n\r\n"), .minor = 1, .ka = 1, .path = "/", .host = "a", .nhdr = 8,
	  .name = "max_headers fields" },
	{ IN("GET /" X16 X16 X16 "xx HTTP/1.1\r\nHost: a\r\n\r\n"), .minor = 1, .ka = 1,
	  .host = "a", .name = "request line of max_line" },
	{ IN("GET / HTTP/1.1\r\nHost: a\r\nX: " X200 X16 "xxxxxxxx\r\n\r\n"), .minor = 1,
	  .ka = 1, .path = "/", .host = "a", .name = "head of max_head" },

	/* line endings */
	BAD("GET / HTTP/1.1\nHost: a\r\n\r\n", 400, "bare LF after request line"),
	BAD("GET / HTTP/1.1\r\nHost: a\n\r\n", 400, "bare LF after field"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\n\n", 400, "bare LF as end of head"),
	BAD("GET / HTTP/1.1\n\n", 400, "LF only"),
	BAD("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "leading bare LF"),
	BAD("\r\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "leading bare CR"),
	BAD("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bare CR in request line"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400, "bare CR in value"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\n\rX", 400, "bare CR at end of head"),

	/* request line */
	BAD("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "two spaces"),
	BAD("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "space after version"),
	BAD(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "space before method"),
	BAD("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "HTAB separator"),
	BAD("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "method not a token"),
	BAD("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "CTL in target"),
	BAD("GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400, "DEL in target"),
	BAD("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "high byte in target"),
	BAD("GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400, "relative target"),
	BAD("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "asterisk with GET"),
	BAD("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "asterisk and more"),
	BAD("options * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "lower-case options *"),
	BAD("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "empty authority"),
	BAD("GET http:// HTTP/1.1\r\nHost: a\r\n\r\n", 400, "scheme only"),
	BAD("GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "userinfo"),
	BAD("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "other scheme"),
	BAD("GET HTTP/1.1\r\nHost: a\r\n\r\n", 400, "no target"),
	BAD("GET /\r\nHost: a\r\n\r\n", 400, "no version"),
	BAD("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 405, "CONNECT"),
	BAD("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 405, "CONNECT origin-form"),
	BAD("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "HTTP/2.0"),
	BAD("GET / HTTP/2.1\r\nHost: a\r\n\r\n", 505, "HTTP/2.1"),
	BAD("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400, "fragment in target"),
	BAD("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, "HTTP/0.9"),
	BAD("GET / http/1.1\r\nHost: a\r\n\r\n", 400, "lower-case version"),
	BAD("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, "two-digit minor"),
	BAD("GET / HTTP/1\r\nHost: a\r\n\r\n", 400, "no minor"),
	BAD("GET / HTTQ/1.1\r\nHost: a\r\n\r\n", 400, "not HTTP"),

	/* limits */
	BAD("GET /" X16 X16 X16 "xxx HTTP/1.1\r\nHost: a\r\n\r\n", 414,
	    "request line of max_line + 1"),
	BAD("GET /" X64, 414, "long request line, incomplete"),
	BAD("\r\n\r\nGET /" X64 " HTTP/1.1\r\nHost: a\r\n\r\n", 414,
	    "long request line after CRLFs"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: " X200 X16 "xxxxxxxxx\r\n\r\n", 431,
	    "head of max_head + 1"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: " X200 X64, 431, "large head, incomplete"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\n"
	    "G: 7\r\nH: 8\r\n\r\n", 431, "max_headers + 1 fields"),

	/* field syntax */
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400, "obs-fold"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400, "obs-fold HTAB"),
	BAD("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "space before first field"),
	BAD("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "space before colon"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400,
	    "Transfer-Encoding space colon"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX a\r\n\r\n", 400, "no colon"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n", 400, "empty name"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX(: a\r\n\r\n", 400, "name not a token"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400, "NUL in value"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX\0: a\r\n\r\n", 400, "NUL in name"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400, "DEL in value"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: \x0b\r\n\r\n", 400, "VT in value"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[0m\r\n\r\n", 400, "ESC in value"),

	/* Host */
	BAD("GET / HTTP/1.1\r\n\r\n", 400, "1.1 without Host"),
	BAD("GET http://a/ HTTP/1.1\r\n\r\n", 400, "absolute-form without Host"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "two Host"),
	BAD("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400, "two Host in 1.0"),
	BAD("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "space in Host"),
	BAD("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "slash in Host"),
	BAD("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, "userinfo in Host"),
	BAD("GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", 400, "high byte in Host"),

	/* Content-Length */
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400, "CL +5"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, "CL -1"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400, "CL 0x10"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", 400, "CL 5 5"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5\r\n\r\n", 400, "CL 5,5"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1.0\r\n\r\n", 400, "CL 1.0"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400, "CL empty"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775809\r\n\r\n",
	    400, "CL 2^63 + 1"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n",
	    400, "CL 2^64"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
	    400, "two equal CL"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	    400, "two different CL"),

	/* Transfer-Encoding */
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 400, "CL then TE"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 5\r\n\r\n", 400, "TE then CL"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 400, "two TE"),
	BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "TE in 1.0"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400, "TE empty"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
	    501, "TE chunked, identity"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
	    "TE gzip, chunked"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n", 501,
	    "TE chunked,"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501,
	    "TE xchunked"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501,
	    "TE identity"),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 501,
	    "TE quoted chunked"),
};

static const struct rs resps[] = {
	{ IN("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), .head = 38,
	  .minor = 1, .status = 200, .body = HTTP_BODY_LENGTH, .clen = 5, .ka = 1,
	  .reason = "OK", .name = "Content-Length, body untouched" },
	{ IN("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"), .minor = 1,
	  .status = 404, .body = HTTP_BODY_NONE, .ka = 1, .reason = "Not Found",
	  .name = "reason with space, CL 0" },
	{ IN("HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n"), .minor = 1, .status = 200,
	  .body = HTTP_BODY_LENGTH, .clen = 1, .ka = 1, .reason = "",
	  .name = "no reason" },
	{ IN("HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\n"), .minor = 1, .status = 200,
	  .body = HTTP_BODY_LENGTH, .clen = 1, .ka = 1, .reason = "",
	  .name = "empty reason" },
	{ IN("HTTP/1.1 200 \xc3\xa7" "a\tva\r\nContent-Length: 1\r\n\r\n"), .minor = 1,
	  .status = 200, .body = HTTP_BODY_LENGTH, .clen = 1, .ka = 1,
	  .name = "obs-text in reason" },
	{ IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), .minor = 1,
	  .status = 200, .body = HTTP_BODY_CHUNKED, .ka = 1, .name = "chunked" },
	{ IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), .minor = 1,
	  .status = 200, .body = HTTP_BODY_CHUNKED, .ka = 1, .name = "gzip, chunked" },
	{ IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  .minor = 1, .status = 200, .body = HTTP_BODY_CHUNKED, .ka = 1,
	  .name = "two TE fields, chunked last" },
	{ IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), .minor = 1,
	  .status = 200, .body = HTTP_BODY_CLOSE, .ka = 0, .name = "chunked, gzip" },
	{ IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), .minor = 1,
	  .status = 200, .body = HTTP_BODY_CLOSE, .ka = 0, .name = "TE gzip" },
	{ IN("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  .minor = 1, .status = 200, .body = HTTP_BODY_CHUNKED, .ka = 0,
	  .name = "TE and CL" },
	{ IN("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"), .minor = 1, .status = 200,
	  .body = HTTP_BODY_CLOSE, .ka = 0, .name = "close-delimited" },
	{ IN("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length:  5\r\n\r\n"),
	  .minor = 1, .status = 200, .body = HTTP_BODY_LENGTH, .clen = 5, .ka = 1,
	  .name = "two equal CL" },
	{ IN("HTTP/1.1 204 No Content\r\n\r\n"), .minor = 1, .status = 204,
	  .body = HTTP_BODY_NONE, .ka = 1, .name = "204" },
	{ IN("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: content-length\r\n\r\n"),
	  .bad = 1, .name = "Connection: Content-Length" },
	{ IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: x, Transfer-Encoding\r\n"
	     "\r\n"), .bad = 1, .name = "Connection: TE among tokens" },
	{ IN("HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n"), .minor = 1,
	  .status = 304, .body = HTTP_BODY_NONE, .clen = 100, .ka = 1,
	  .name = "304 with CL" },
	{ IN("HTTP/1.1 100 Continue\r\n\r\n"), .minor = 1, .status = 100,
	  .body = HTTP_BODY_NONE, .ka = 1, .name = "100" },
	{ IN("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	  "Connection: Upgrade\r\n\r\n"), .minor = 1, .status = 101,
	  .body = HTTP_BODY_NONE, .ka = 1, .name = "101" },
	{ IN("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"), .is_head = 1, .minor = 1,
	  .status = 200, .body = HTTP_BODY_NONE, .clen = 100, .ka = 1,
	  .name = "HEAD with CL" },
	{ IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), .is_head = 1,
	  .minor = 1, .status = 200, .body = HTTP_BODY_NONE, .ka = 1,
	  .name = "HEAD with TE" },
	{ IN("HTTP/1.1 200 OK\r\n\r\n"), .is_head = 1, .minor = 1, .status = 200,
	  .body = HTTP_BODY_NONE, .ka = 1, .name = "HEAD without framing" },
	{ IN("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n"), .minor = 0, .status = 200,
	  .body = HTTP_BODY_LENGTH, .clen = 1, .ka = 0, .name = "1.0" },
	{ IN("HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n"),
	  .minor = 0, .status = 200, .body = HTTP_BODY_LENGTH, .clen = 1, .ka = 1,
	  .name = "1.0 keep-alive" },
	{ IN("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"),
	  .minor = 0, .status = 200, .body = HTTP_BODY_CHUNKED, .ka = 0,
	  .name = "1.0 with TE" },
	{ IN("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: x, Close\r\n\r\n"),
	  .minor = 1, .status = 200, .body = HTTP_BODY_LENGTH, .clen = 1, .ka = 0,
	  .name = "1.1 close" },
	{ IN("HTTP/1.1 200 OK\r\nX: " X200 X16 X16 "\r\n\r\n"), .minor = 1,
	  .status = 200, .body = HTTP_BODY_CLOSE, .name = "head of max_head" },

	{ IN("HTTP/2.0 200 OK\r\n\r\n"), .bad = 1, .name = "HTTP/2.0" },
	{ IN("HTTP/1.1 20 OK\r\n\r\n"), .bad = 1, .name = "two-digit status" },
	{ IN("HTTP/1.1 2000 OK\r\n\r\n"), .bad = 1, .name = "four-digit status" },
	{ IN("HTTP/1.1 099 OK\r\n\r\n"), .bad = 1, .name = "status below 100" },
	{ IN("HTTP/1.1  200 OK\r\n\r\n"), .bad = 1, .name = "two spaces" },
	{ IN("http/1.1 200 OK\r\n\r\n"), .bad = 1, .name = "lower-case version" },
	{ IN("HTTP/1.1 200 O\x01K\r\n\r\n"), .bad = 1, .name = "CTL in reason" },
	{ IN("\r\nHTTP/1.1 200 OK\r\n\r\n"), .bad = 1, .name = "leading CRLF" },
	{ IN("HTTP/1.1 200 OK\n\n"), .bad = 1, .name = "LF only" },
	{ IN("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"), .bad = 1, .name = "bare CR" },
	{ IN("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), .bad = 1, .name = "obs-fold" },
	{ IN("HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n"), .bad = 1,
	  .name = "space before colon" },
	{ IN("HTTP/1.1 200 OK\r\nX: \0\r\n\r\n"), .bad = 1, .name = "NUL in value" },
	{ IN("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
	  .bad = 1, .name = "two different CL" },
	{ IN("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n"), .bad = 1,
	  .name = "CL list" },
	{ IN("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n"), .bad = 1, .name = "CL abc" },
	{ IN("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), .bad = 1, .name = "CL -1" },
	{ IN("HTTP/1.1 204 OK\r\nContent-Length: x\r\n\r\n"), .bad = 1,
	  .name = "bad CL in 204" },
	{ IN("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n"),
	  .bad = 1, .name = "CL overflow" },
	{ IN("HTTP/1.1 200 OK\r\nX: " X200 X16 X16 "x\r\n\r\n"), .bad = 1,
	  .name = "head of max_head + 1" },
	{ IN("HTTP/1.1 200 OK\r\nX: " X200 X64), .bad = 1, .name = "large head, incomplete" },
	{ IN("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\n"
	  "G: 7\r\nH: 8\r\nI: 9\r\n\r\n"), .bad = 1, .name = "max_headers + 1 fields" },
};

static const struct ck chunks[] = {
	{ IN("5\r\nhello\r\n0\r\n\r\n"), .done = 1, .data = "hello", .name = "one chunk" },
	{ IN("3\r\nabc\r\n2\r\nde\r\n1\r\nf\r\n0\r\n\r\n"), .done = 1, .data = "abcdef",
	  .name = "three chunks" },
	{ IN("A\r\n0123456789\r\nb\r\n0123456789a\r\n0\r\n\r\n"), .done = 1,
	  .data = "01234567890123456789a", .name = "hex digits in both cases" },
	{ IN("0005\r\nhello\r\n000\r\n\r\n"), .done = 1, .data = "hello",
	  .name = "leading zeros" },
	{ IN("0000000000000005\r\nhello\r\n0\r\n\r\n"), .done = 1, .data = "hello",
	  .name = "16 digits" },
	{ IN("5;name=val;x\r\nhello\r\n0;y=\"a b\\\"\"\r\n\r\n"), .done = 1,
	  .data = "hello", .name = "extensions" },
	{ IN("5 ;a\r\nhello\r\n0\t \t;b\r\n\r\n"), .done = 1, .data = "hello",
	  .name = "BWS before ';'" },
	{ IN("5;\xff\tx\r\nhello\r\n0\r\n\r\n"), .done = 1, .data = "hello",
	  .name = "HTAB and obs-text in extension" },
	{ IN("5;" X16 "xxxxxxxxxxxxxx\r\nhello\r\n0\r\n\r\n"), .done = 1,
	  .data = "hello", .name = "size line of max_chunk_line" },
	{ IN("2\r\nhi\r\n0\r\nX-Sum: 1\r\ny:\t\xc3\xa9 \r\nz:\r\n\r\n"), .done = 1,
	  .data = "hi", .name = "trailers" },
	{ IN("0\r\nX: " X16 X16 X16 "xxxxxxxxxxx\r\n\r\n"), .done = 1, .data = "",
	  .name = "trailer of max_trailer" },
	{ IN("0\r\n\r\n"), .done = 1, .data = "", .name = "empty body" },
	{ IN("1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), .done = 1, .used = 11,
	  .data = "a", .name = "bytes after the end not consumed" },
	{ IN("0\r\n\r\n\r\n"), .done = 1, .used = 5, .data = "",
	  .name = "extra CRLF not consumed" },
	{ IN("5\r\nhel"), .data = "hel", .name = "incomplete data" },
	{ IN("5\r\nhello\r"), .data = "hello", .name = "incomplete after data" },
	{ IN("8000000000000000\r\nab"), .data = "ab", .name = "size 2^63" },
	{ IN("0\r\nX: 1\r\n"), .data = "", .name = "incomplete trailer" },

	{ IN("g\r\nhello\r\n0\r\n\r\n"), .bad = 1, .name = "bad hex" },
	{ IN("\r\nhello\r\n0\r\n\r\n"), .bad = 1, .name = "empty size" },
	{ IN("-5\r\nhello\r\n"), .bad = 1, .name = "negative size" },
	{ IN("0x5\r\nhello\r\n"), .bad = 1, .name = "0x prefix" },
	{ IN(" 5\r\nhello\r\n"), .bad = 1, .name = "space before size" },
	{ IN("5 \r\nhello\r\n"), .bad = 1, .name = "space after size without ';'" },
	{ IN("00000000000000005\r\nhello\r\n"), .bad = 1, .name = "17 digits" },
	{ IN("8000000000000001\r\n"), .bad = 1, .name = "size above 2^63" },
	{ IN("ffffffffffffffff\r\n"), .bad = 1, .name = "size 2^64 - 1" },
	{ IN("5\r\nhelloX\r\n0\r\n\r\n"), .bad = 1, .data = "hello",
	  .name = "no CRLF after data" },
	{ IN("5\r\nhello\n0\r\n\r\n"), .bad = 1, .data = "hello", .name = "LF after data" },
	{ IN("5\r\nhello\r0\r\n\r\n"), .bad = 1, .data = "hello", .name = "CR after data" },
	{ IN("5\nhello\r\n0\r\n\r\n"), .bad = 1, .name = "LF after size" },
	{ IN("5\rhello\r\n0\r\n\r\n"), .bad = 1, .name = "CR after size" },
	{ IN("5;a\nhello\r\n"), .bad = 1, .name = "LF after extension" },
	{ IN("5;a\x01\r\nhello\r\n"), .bad = 1, .name = "CTL in extension" },
	{ IN("5\0\r\nhello\r\n"), .bad = 1, .name = "NUL after size" },
	{ IN("5 \0;a\r\nhello\r\n"), .bad = 1, .name = "NUL in BWS" },
	{ IN("5;a\0\r\nhello\r\n"), .bad = 1, .name = "NUL in extension" },
	{ IN("5;a\x7f\r\nhello\r\n"), .bad = 1, .name = "DEL in extension" },
	{ IN("5;" X16 "xxxxxxxxxxxxxxx\r\nhello\r\n"), .bad = 1,
	  .name = "size line of max_chunk_line + 1" },
	{ IN("1;" X64), .bad = 1, .name = "long size line, incomplete" },
	{ IN("0\r\nContent-Length: 5\r\n\r\n"), .bad = 1, .name = "trailer Content-Length" },
	{ IN("0\r\ntransfer-encoding: chunked\r\n\r\n"), .bad = 1, .name = "trailer TE" },
	{ IN("0\r\nHOST: a\r\n\r\n"), .bad = 1, .name = "trailer Host" },
	{ IN("0\r\nContent-Lengthx: 5\r\n\r\n"), .used = 0, .done = 1, .data = "",
	  .name = "trailer named like Content-Length" },
	{ IN("0\r\nX: a\r\n b\r\n\r\n"), .bad = 1, .name = "trailer obs-fold" },
	{ IN("0\r\n X: a\r\n\r\n"), .bad = 1, .name = "trailer starts with space" },
	{ IN("0\r\nX : a\r\n\r\n"), .bad = 1, .name = "trailer space before colon" },
	{ IN("0\r\nX\r\n\r\n"), .bad = 1, .name = "trailer without colon" },
	{ IN("0\r\n: a\r\n\r\n"), .bad = 1, .name = "trailer empty name" },
	{ IN("0\r\nX: a\0\r\n\r\n"), .bad = 1, .name = "trailer NUL" },
	{ IN("0\r\nX: a\n\r\n"), .bad = 1, .name = "trailer LF" },
	{ IN("0\r\nX: a\x7f\r\n\r\n"), .bad = 1, .name = "trailer DEL" },
	{ IN("0\r\nX: a\rb\r\n\r\n"), .bad = 1, .name = "trailer bare CR" },
	{ IN("0\r\nX: " X16 X16 X16 "xxxxxxxxxxxx\r\n\r\n"), .bad = 1,
	  .name = "trailer of max_trailer + 1" },
	{ IN("0\r\n\n"), .bad = 1, .name = "final LF" },
	{ IN("0\r\n\rX"), .bad = 1, .name = "final CR" },
};

/* Copies s[0..n) to the end of the first guard page. */
static const char *
place(const char *s, size_t n)
{
	char *p = guard + pagesz - n;

	memcpy(p, s, n);
	return p;
}

static int
streq(const char *p, size_t n, const char *want)
{
	if (!p || !want)
		return p == want;
	return n == strlen(want) && !memcmp(p, want, n);
}

static void
checkreq(const struct rq *t, const struct http_request *r)
{
	CHECK(!t->method || streq(r->method, r->mlen, t->method), "method");
	CHECK(r->target && r->tlen > 0, "target");
	CHECK(r->minor == t->minor, "minor %d", r->minor);
	CHECK(r->body == t->body, "body %d", r->body);
	CHECK(r->clen == t->clen, "clen %llu", r->clen);
	CHECK(r->keepalive == t->ka, "keepalive %d", r->keepalive);
	CHECK(r->expect100 == t->expect100, "expect100 %d", r->expect100);
	CHECK(r->upgrade == t->upgrade, "upgrade %d", r->upgrade);
	CHECK(!t->path || streq(r->path, r->pathlen, t->path), "path %.*s",
	      (int)r->pathlen, r->path);
	CHECK(r->path && r->pathlen > 0, "no path");
	CHECK(streq(r->host, r->hostlen, t->host), "host");
	CHECK(streq(r->authority, r->alen, t->authority), "authority");
	CHECK(!t->nhdr || r->nhdr == t->nhdr, "nhdr %zu", r->nhdr);
	CHECK(r->status == 0, "status %d", r->status);
}

static int
parsereq(const char *in, size_t n, struct http_request *r, struct http_header *h)
{
	r->hdr = h;
	return http_parse_request(place(in, n), n, &lim, r);
}

static void
test_request(void **state)
{
	const struct rq *t = *state;
	struct http_header h[8];
	struct http_request r;
	size_t k, head = t->head ? t->head : t->len;
	int n, err = 0;

	/* whole buffer */
	n = parsereq(t->in, t->len, &r, h);
	if (t->status) {
		CHECK(n == -1 && r.status == t->status, "got %d status %d", n, r.status);
	} else {
		CHECK(n == (int)head, "got %d status %d, want %zu", n, r.status, head);
		checkreq(t, &r);
	}

	/* one byte more at a time: -2 until complete, an error never retracted */
	for (k = 0; k <= t->len; k++) {
		n = parsereq(t->in, k, &r, h);
		if (n == -1) {
			CHECK(t->status && r.status == t->status,
			      "prefix %zu: status %d", k, r.status);
			err = 1;
		} else if (t->status || k < head) {
			CHECK(n == -2 && !err, "prefix %zu: got %d", k, n);
		} else {
			CHECK(n == (int)head, "prefix %zu: got %d", k, n);
			checkreq(t, &r);
		}
	}
}

static void
test_pipelined(void **state)
{
	static const char in[] = "\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n"
	    "POST /b HTTP/1.0\r\nContent-Length: 1\r\n\r\nx";
	struct http_header h[8];
	struct http_request r;
	const char *p = place(in, sizeof(in) - 1);
	int n, m;

	(void)state;
	r.hdr = h;
	n = http_parse_request(p, sizeof(in) - 1, &lim, &r);
	assert_int_equal(n, 30);
	assert_true(streq(r.path, r.pathlen, "/a"));
	m = http_parse_request(p + n, sizeof(in) - 1 - n, &lim, &r);
	assert_int_equal(m, 39);
	assert_true(streq(r.method, r.mlen, "POST"));
	assert_true(streq(r.path, r.pathlen, "/b"));
	assert_int_equal(r.body, HTTP_BODY_LENGTH);
	assert_int_equal(r.clen, 1);
	assert_int_equal(p[n + m], 'x');
	assert_true(streq(r.hdr[0].name, r.hdr[0].nlen, "Content-Length"));
	assert_true(streq(r.hdr[0].value, r.hdr[0].vlen, "1"));
}

static void
checkres(const struct rs *t, const struct http_response *r)
{
	CHECK(r->minor == t->minor, "minor %d", r->minor);
	CHECK(r->status == t->status, "status %d", r->status);
	CHECK(r->body == t->body, "body %d", r->body);
	CHECK(r->clen == t->clen, "clen %llu", r->clen);
	CHECK(r->keepalive == t->ka, "keepalive %d", r->keepalive);
	CHECK(!t->reason || streq(r->reason, r->rlen, t->reason), "reason");
}

static int
parseres(const struct rs *t, size_t n, struct http_response *r, struct http_header *h)
{
	r->hdr = h;
	return http_parse_response(place(t->in, n), n, &lim, t->is_head, r);
}

static void
test_response(void **state)
{
	const struct rs *t = *state;
	struct http_header h[8];
	struct http_response r;
	size_t k, head = t->head ? t->head : t->len;
	int n, err = 0;

	n = parseres(t, t->len, &r, h);
	if (t->bad) {
		CHECK(n == -1, "got %d", n);
	} else {
		CHECK(n == (int)head, "got %d, want %zu", n, head);
		checkres(t, &r);
	}
	for (k = 0; k <= t->len; k++) {
		n = parseres(t, k, &r, h);
		if (n == -1) {
			CHECK(t->bad, "prefix %zu: got -1", k);
			err = 1;
		} else if (t->bad || k < head) {
			CHECK(n == -2 && !err, "prefix %zu: got %d", k, n);
		} else {
			CHECK(n == (int)head, "prefix %zu: got %d", k, n);
			checkres(t, &r);
		}
	}
}

/* Appends a data span to out, failing on overflow or a span outside buf. */
static void
collect(char *out, size_t *olen, const char *buf, size_t len, const char *d, size_t dlen)
{
	if (!dlen)
		return;
	CHECK(d >= buf && d + dlen <= buf + len, "data outside buf");
	CHECK(*olen + dlen < 256, "too much data");
	memcpy(out + *olen, d, dlen);
	*olen += dlen;
}

static void
checkck(const struct ck *t, int bad, const struct http_chunked *c, size_t used,
        const char *out, size_t olen, const char *how)
{
	CHECK(bad == t->bad, "%s: bad %d", how, bad);
	CHECK(c->done == t->done, "%s: done %d", how, c->done);
	CHECK(t->bad || used == (t->used ? t->used : t->len), "%s: used %zu", how, used);
	CHECK(streq(out, olen, t->data ? t->data : ""), "%s: data %.*s", how,
	      (int)olen, out);
}

static void
test_chunked(void **state)
{
	const struct ck *t = *state;
	struct http_chunked c;
	const char *p, *d;
	char out[256];
	size_t used = 0, olen = 0, dlen, k;
	ssize_t n;
	int bad = 0;

	/* whole buffer: call again with the rest until done, error or no progress */
	http_chunked_init(&c);
	p = place(t->in, t->len);
	do {
		n = http_chunked_step(&c, p + used, t->len - used, &lim, &d, &dlen);
		if (n < 0) {
			bad = 1;
			break;
		}
		CHECK((size_t)n <= t->len - used, "consumed too much");
		collect(out, &olen, p, t->len, d, dlen);
		used += n;
	} while (n > 0 && !c.done);
	checkck(t, bad, &c, used, out, olen, "whole");
	if (c.done) {
		n = http_chunked_step(&c, p + used, t->len - used, &lim, &d, &dlen);
		CHECK(n == 0 && dlen == 0, "consumed after done");
	}
	if (bad) {
		n = http_chunked_step(&c, p, t->len, &lim, &d, &dlen);
		CHECK(n == -1, "error not sticky");
	}

	/* one byte at a time */
	http_chunked_init(&c);
	used = olen = 0;
	bad = 0;
	for (k = 0; k < t->len && !c.done; k++) {
		p = place(t->in + k, 1);
		n = http_chunked_step(&c, p, 1, &lim, &d, &dlen);
		if (n < 0) {
			bad = 1;
			break;
		}
		CHECK(n == 1, "byte %zu: consumed %zd", k, n);
		collect(out, &olen, p, 1, d, dlen);
		used += n;
	}
	checkck(t, bad, &c, used, out, olen, "bytewise");
}

static void
test_chunked_split(void **state)
{
	static const char in[] = "a;x=1\r\n0123456789\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\nrest";
	struct http_chunked c;
	const char *d;
	char out[64];
	size_t used, olen, dlen, cut, n = sizeof(in) - 1;
	ssize_t r;

	(void)state;
	/* every split point, as two reads into a buffer that only grows */
	for (cut = 0; cut <= n; cut++) {
		http_chunked_init(&c);
		used = olen = 0;
		while (!c.done) {
			size_t avail = used < cut ? cut : n;
			const char *p = place(in, avail);

			r = http_chunked_step(&c, p + used, avail - used, &lim, &d, &dlen);
			assert_true(r >= 0);
			if (dlen) {
				assert_true(d >= p + used && d + dlen <= p + avail);
				memcpy(out + olen, d, dlen);
				olen += dlen;
			}
			used += r;
			if (r == 0 && avail == n)
				break;
		}
		assert_true(c.done);
		assert_int_equal(used, n - 4);
		assert_true(streq(out, olen, "0123456789abc"));
	}
}

static void
test_helpers(void **state)
{
	static const struct http_header h[] = {
		{ "Host", "a", 4, 1 },
		{ "X-A", "1", 3, 1 },
		{ "x-a", "2", 3, 1 },
	};
	static const char list[] = " a ,, B\t,c-d ,";

	(void)state;
	assert_true(http_eq("Host", 4, "hOST"));
	assert_false(http_eq("Hos", 3, "host"));
	assert_false(http_eq("Hostx", 5, "host"));
	assert_true(http_eq("", 0, ""));
	assert_true(http_eq("ab\0", 2, "ab"));
	assert_ptr_equal(http_header_find(h, LEN(h), "x-A"), &h[1]);
	assert_ptr_equal(http_header_find(h, LEN(h), "host"), &h[0]);
	assert_null(http_header_find(h, LEN(h), "X"));
	assert_null(http_header_find(h, 0, "host"));
	assert_true(http_list_has(list, sizeof(list) - 1, "a"));
	assert_true(http_list_has(list, sizeof(list) - 1, "b"));
	assert_true(http_list_has(list, sizeof(list) - 1, "C-D"));
	assert_false(http_list_has(list, sizeof(list) - 1, "c"));
	assert_false(http_list_has(list, sizeof(list) - 1, ""));
	assert_false(http_list_has("", 0, "a"));
	assert_false(http_list_has("ab", 1, "ab"));
	assert_true(http_list_has("close", 5, "close"));
	assert_false(http_list_has("close", 4, "close"));
	assert_string_equal(http_reason(200), "OK");
	assert_string_equal(http_reason(404), "Not Found");
	assert_string_equal(http_reason(431), "Request Header Fields Too Large");
	assert_string_equal(http_reason(505), "HTTP Version Not Supported");
	assert_string_equal(http_reason(299), "Unknown");
	assert_string_equal(http_reason(-1), "Unknown");
}

static void
test_chunked_sticky(void **state)
{
	struct http_chunked c;
	const char *d;
	size_t dlen;

	(void)state;
	http_chunked_init(&c);
	assert_int_equal(http_chunked_step(&c, place("z", 1), 1, &lim, &d, &dlen), -1);
	assert_int_equal(http_chunked_step(&c, place("0\r\n\r\n", 5), 5, &lim, &d, &dlen), -1);
	assert_int_equal(http_chunked_step(&c, place("", 0), 0, &lim, &d, &dlen), -1);
	assert_false(c.done);
	http_chunked_init(&c);
	assert_int_equal(http_chunked_step(&c, place("", 0), 0, &lim, &d, &dlen), 0);
	assert_int_equal(dlen, 0);
}

/* Runs one cmocka test per table row, named after the row. */
static int
runtable(const char *grp, CMUnitTestFunction fn, const void *tab, size_t n,
         size_t sz, size_t nameoff)
{
	struct CMUnitTest *u;
	const char *row;
	size_t i;
	int r;

	if (!(u = calloc(n, sizeof(*u))))
		return 1;
	for (i = 0; i < n; i++) {
		row = (const char *)tab + i * sz;
		memcpy(&u[i].name, row + nameoff, sizeof(u[i].name));
		u[i].test_func = fn;
		u[i].initial_state = (void *)(uintptr_t)row;
	}
	r = _cmocka_run_group_tests(grp, u, n, NULL, NULL);
	free(u);
	return r;
}

int
main(void)
{
	static const struct CMUnitTest misc[] = {
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_chunked_split),
		cmocka_unit_test(test_chunked_sticky),
		cmocka_unit_test(test_helpers),
	};
	int fails = 0;

	pagesz = sysconf(_SC_PAGESIZE);
	guard = mmap(NULL, 2 * pagesz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	             -1, 0);
	if (guard == MAP_FAILED || mprotect(guard + pagesz, pagesz, PROT_NONE) < 0) {
		perror("mmap");
		return 1;
	}
	fails += runtable("requests", test_request, reqs, LEN(reqs), sizeof(reqs[0]),
	                  offsetof(struct rq, name));
	fails += runtable("responses", test_response, resps, LEN(resps), sizeof(resps[0]),
	                  offsetof(struct rs, name));
	fails += runtable("chunked", test_chunked, chunks, LEN(chunks), sizeof(chunks[0]),
	                  offsetof(struct ck, name));
	fails += cmocka_run_group_tests(misc, NULL, NULL);
	munmap(guard, 2 * pagesz);
	return fails != 0;
}
