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
	int max_tries;         /* backends tried when connects fail */
	int access_log;        /* 1: one line per request on stdout */
	int max_tunnels;       /* upgraded connections open at once; beyond: 503 */
	long min_rate;         /* bytes/s a request body or response must average, 0 = off */
	long min_rate_grace;   /* ms a transfer may take before min_rate applies */
};

/* bytes a tunnel relays per read (on the tunnel thread's stack) */
#define PROXY_TUNNEL_BUF 8192

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
	struct app *app;       /* its request's app (referenced) while it is served,
	                          held or tunnelled */
	/* a held request (proxy_serve returned PROXY_HOLD) */
	int holding;           /* counts in pool_hold() */
	int64_t hold_until;    /* now_ms() when its hold ends -> 503 */
	long hold_us;          /* CLOCK_MONOTONIC us of its first try */
	struct conn *hnext;    /* held list link (prescal.c) */
	/* an upgraded connection (proxy_serve returned PROXY_TUNNEL) */
	int tun_fd;            /* the backend socket */
	struct backend *tun_b; /* its pick, ended by proxy_tunnel_end() */
};

/* Per-worker buffers, allocated once at start-up. */
struct worker {
	char *map;             /* the one mapping that holds them all */
	size_t maplen;
	char *cbuf;            /* client head buffer, CONN_BUF bytes */
	char *rbuf;            /* response head and body relay */
	size_t rcap;
	char *obuf;            /* outgoing request/response heads */
	size_t ocap;
	struct http_header *hdr, *rhdr;  /* lim.max_headers entries each */
	/* prescal.c's scheduling (under its lock): the list of serving
	 * workers, oldest first, and when this one started serving */
	struct worker *prev, *next;
	int64_t since;
	int serving;
};

enum {
	PROXY_CLOSE,   /* close the client connection */
	PROXY_KEEP,    /* it may carry another request */
	PROXY_HOLD,    /* no backend yet: park it with its head, serve it again later */
	PROXY_TUNNEL,  /* upgraded: give it to proxy_tunnel() on a thread of its own */
	NUM_PROXY
};

/* Stores the configuration; call once before the workers start. */
void proxy_init(const struct proxy_conf *conf);

/* Sets up w's buffers (one mapping, resident only as used). Returns 0, or
 * -1 on ENOMEM. */
int proxy_worker_init(struct worker *w, size_t ccap, size_t rcap, size_t max_headers);

/* Gives w's buffer pages back to the kernel (they read as zeros after);
 * for a worker that parks. Call only between requests. */
void proxy_worker_trim(struct worker *w);

/* Serves the request at the start of c->buf: reads its body, forwards it,
 * relays the response. Leaves any pipelined bytes at the start of c->buf.
 * Blocks. Returns a PROXY_ value: PROXY_HOLD leaves the request in c->buf
 * untouched and c holding (call again once pool_conf.ready says so, or at
 * c->hold_until); PROXY_TUNNEL hands c's upgraded sockets to proxy_tunnel(). */
int proxy_serve(struct worker *w, struct conn *c);

/* Ends c's hold (if any) and its reference to its app; for a held
 * request prescal gives up on. */
void proxy_release(struct conn *c);

/* Relays bytes both ways until either side closes or idles out, then ends
 * the tunnel (proxy_tunnel_end). Blocks; uses PROXY_TUNNEL_BUF of stack. The
 * caller closes c afterwards. */
void proxy_tunnel(struct conn *c);

/* Ends c's tunnel without relaying: closes the backend side, ends its pick. */
void proxy_tunnel_end(struct conn *c);

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
