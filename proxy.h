/* See LICENSE file for copyright and license details. */
/* proxy.h: the request path. A worker calls proxy_serve() for one request
 * whose head is complete (or malformed) in c->buf; it blocks on the client
 * and the backend sockets with the configured timeouts. Needs http.h. */

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

struct proxy_conf {
	struct http_limits lim;
	int body_timeout;      /* ms, client body idle */
	int send_timeout;      /* ms, one blocked write */
	int connect_timeout;   /* ms, backend connect */
	int backend_timeout;   /* ms, backend first byte and between reads */
	int tunnel_timeout;    /* ms, idle upgraded connection */
	int hold_timeout;      /* ms, waiting for a backend (scale from zero) */
	int max_tries;         /* backends tried when connects fail */
	int access_log;        /* 1: one line per request on stdout */
	int starting_page;     /* 1: browsers get a "starting" page while held */
};

/* A client connection. Owned by one thread at a time (see prescal.c). */
struct conn {
	int fd;
	char peer[64];         /* client address, "ip" */
	char *buf;             /* the head and what follows: the worker's buffer,
	                          or one of its own while parked with a partial head */
	size_t len, cap;       /* bytes in buf, its size */
	int ownbuf;            /* buf is the connection's own */
	_Atomic int64_t deadline; /* head deadline or keep-alive expiry (ms); sweep()
	                             reads it while a worker may set it */
	atomic_int state;      /* enum conn_state of prescal.c */
	atomic_int sweeping;   /* sweep() is marking it: its fd must stay open */
	unsigned nreq;         /* requests served on this connection */
	struct conn *next;     /* free list link */
};

/* Per-worker buffers, allocated once at start-up. */
struct worker {
	char *cbuf;            /* client head buffer, CONN_BUF bytes */
	char *rbuf;            /* response head and body relay */
	size_t rcap;
	char *obuf;            /* outgoing request/response heads */
	size_t ocap;
	struct http_header *hdr, *rhdr;  /* lim.max_headers entries each */
};

enum { PROXY_CLOSE, PROXY_KEEP, NUM_PROXY };

/* Stores the configuration; call once before the workers start. */
void proxy_init(const struct proxy_conf *conf);

/* Sets up w's buffers. Returns 0, or -1 on ENOMEM. */
int proxy_worker_init(struct worker *w, size_t ccap, size_t rcap, size_t max_headers);

/* Serves the request at the start of c->buf: reads its body, forwards it,
 * relays the response. Leaves any pipelined bytes at the start of c->buf.
 * Blocks. Returns PROXY_KEEP if the connection may carry another request. */
int proxy_serve(struct worker *w, struct conn *c);

/* Writes a complete error response with status and Connection: close. */
void proxy_error(int fd, int status, const char *extra);

/* Sets whether new responses close their connections (draining). */
void proxy_set_draining(int on);

/* Counters for the admin endpoint: requests by status class 1..5. */
#define PROXY_NBUCKETS 12
extern const double proxy_buckets[PROXY_NBUCKETS];  /* seconds; the last is +Inf */

struct proxy_stats {
	long requests, bytes_out;
	long status[6];                  /* by class: [2] = 2xx ... */
	long hist[PROXY_NBUCKETS];       /* request durations, cumulative buckets */
	double sum;                      /* seconds, all requests */
};

/* Fills st with the counters so far. */
void proxy_get_stats(struct proxy_stats *st);
