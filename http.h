/* See LICENSE file for copyright and license details. */
/* http.h: pure HTTP/1.1 parsers (RFC 9110, RFC 9112). Nothing here does I/O
 * or allocates: results are pointer+length pairs into the caller's buffer.
 *
 * Return convention of the parsers: bytes consumed (> 0, or >= 0 for the
 * chunked decoder), -2 need more bytes, -1 malformed (for requests
 * req->status then holds the HTTP status to answer with). */

#include <stddef.h>
#include <sys/types.h>

enum http_body {
	HTTP_BODY_NONE,     /* no body */
	HTTP_BODY_LENGTH,   /* Content-Length bytes */
	HTTP_BODY_CHUNKED,  /* chunked transfer coding */
	HTTP_BODY_CLOSE,    /* responses only: body ends when the server closes */
	NUM_HTTP_BODY
};

struct http_limits {
	size_t max_line;        /* request line, bytes: longer -> 414 */
	size_t max_head;        /* head incl. request/status line, bytes: larger -> 431 */
	size_t max_headers;     /* header fields: more -> 431; capacity of hdr[] */
	size_t max_chunk_line;  /* chunk-size line incl. extensions, bytes */
	size_t max_trailer;     /* trailer section, bytes */
};

struct http_header {
	const char *name, *value;  /* value has leading/trailing OWS removed */
	size_t nlen, vlen;
};

struct http_request {
	/* filled in by http_parse_request() */
	const char *method, *target;   /* request-target as sent */
	size_t mlen, tlen;
	const char *path;              /* origin-form: target, or the path+query of an
	                                  absolute-form target ("/" when it has none),
	                                  or "*" for OPTIONS * */
	size_t pathlen;
	const char *authority;         /* absolute-form authority, else NULL */
	size_t alen;
	const char *host;              /* Host field value, NULL if absent */
	size_t hostlen;
	int minor;                     /* HTTP/1.<minor>: 0 or 1 */
	size_t nhdr;                   /* fields stored in hdr[] */
	enum http_body body;           /* NONE, LENGTH or CHUNKED */
	unsigned long long clen;       /* with HTTP_BODY_LENGTH */
	int keepalive;                 /* connection persists after this exchange (RFC 9112 9.3) */
	int expect100;                 /* Expect: 100-continue */
	int upgrade;                   /* Upgrade present and Connection lists "upgrade" */
	int status;                    /* after -1: 400, 405, 414, 431, 501 or 505 */
	/* set by the caller before parsing */
	struct http_header *hdr;       /* array of lim->max_headers entries */
};

struct http_response {
	int minor;                     /* HTTP/1.<minor> */
	int status;                    /* 100..999 */
	const char *reason;
	size_t rlen;
	size_t nhdr;
	enum http_body body;           /* framing per RFC 9112 6.3 */
	unsigned long long clen;       /* with HTTP_BODY_LENGTH */
	int keepalive;                 /* the server keeps the connection after the body */
	/* set by the caller before parsing */
	struct http_header *hdr;       /* array of lim->max_headers entries */
};

struct http_chunked {
	int state;                     /* private */
	unsigned long long left;       /* chunk-data bytes still to come */
	size_t line;                   /* bytes of the current size or trailer line */
	size_t trailer;                /* bytes of the trailer section so far */
	char tname[24];                /* the start of the trailer field name being read */
	int done;                      /* 1 once the last chunk and trailers are consumed */
};

/* Parses a request head in buf[0..len). Returns the head's length
 * including the final CRLF CRLF (and any leading CRLFs), -2 if incomplete,
 * -1 if malformed with req->status set. Over lim->max_head (or max_line
 * while still in the request line) returns -1 even when incomplete. */
int http_parse_request(const char *buf, size_t len, const struct http_limits *lim,
                       struct http_request *req);

/* Parses a response head. is_head: the request was HEAD (no body follows).
 * Returns the head's length, -2 if incomplete, -1 if malformed or larger
 * than lim->max_head. */
int http_parse_response(const char *buf, size_t len, const struct http_limits *lim,
                        int is_head, struct http_response *res);

/* Resets a chunked decoder before the first byte of a chunked body. */
void http_chunked_init(struct http_chunked *c);

/* Decodes chunked framing from buf[0..len). Returns bytes consumed (0..len)
 * or -1 if malformed. When it meets chunk data it stops right after that
 * data and points *data and *dlen at it (inside buf); otherwise *dlen is 0.
 * Call again with the rest; c->done is 1 when the body has ended, and the
 * bytes after it are not consumed. Never reads past buf[len-1]. */
ssize_t http_chunked_step(struct http_chunked *c, const char *buf, size_t len,
                          const struct http_limits *lim, const char **data, size_t *dlen);

/* Returns the first header named name (case-insensitive), or NULL. */
const struct http_header *http_header_find(const struct http_header *h, size_t n,
                                           const char *name);

/* Returns 1 if the comma-separated list v[0..n) holds token (case-insensitive,
 * OWS around elements ignored), else 0. */
int http_list_has(const char *v, size_t n, const char *token);

/* Returns 1 if a[0..n) equals the NUL-terminated b ignoring ASCII case. */
int http_eq(const char *a, size_t n, const char *b);

/* Returns the standard reason phrase for status, or "Unknown". */
const char *http_reason(int status);
