/* See LICENSE file for copyright and license details. */
/* prescal compile-time defaults. The Makefile copies this file to config.h
 * when that is missing; edit config.h. Flags and the config file (-f)
 * override the values marked with a flag. Only prescal.c includes it. */

/* listeners */
#define LISTEN_ADDR      "0.0.0.0:8080"   /* -l [host:]port */
#define ADMIN_ADDR       "127.0.0.1:8404" /* -a [host:]port; "" = off */
#define LISTEN_BACKLOG   4096             /* listen(2) backlog, 1..65535 (the kernel caps it
                                             at net.core.somaxconn) */
#define ACCEPT_BATCH     16               /* connections accepted per listener wake-up */
#define DEFER_ACCEPT     0   /* 1: TCP_DEFER_ACCEPT: accept only once data came (the
                                head deadline then runs from the first byte, not the
                                connect) */

/* threads and connections */
#define NTHREADS         0         /* -t worker threads, 0..THREADS_MAX; 0 = auto: max x target
                                      of the scaled image + THREADS_PER_BACKEND (or conn_cap)
                                      per static backend, +25%, within THREADS_MIN..MAX */
#define THREADS_MIN      128       /* auto worker count, at least */
#define THREADS_MAX      4096      /* worker threads, at most */
#define THREADS_PER_BACKEND 512    /* auto: requests in flight a static backend may take */
#define AWAKE            8         /* per CPU: workers awake at once, polling epoll or
                                      serving; the others sleep. A worker that a slow backend
                                      or client has held for BLOCKED_MS stops counting and a
                                      sleeper wakes in its place: a slow app gets every worker
                                      within milliseconds, while fast requests are served in
                                      turn by a few warm workers (more would trade CPU for
                                      context switches) */
#define BLOCKED_MS       2         /* see AWAKE, 1..1000 */
#define WORKER_STACK     64        /* worker and tunnel thread stack, KiB, 32..8192 */
#define THREAD_STACK     256       /* other threads' stack (Docker client), KiB, 64..8192 */
#define MAX_TUNNELS      4096      /* max_tunnels: upgraded (WebSocket) connections open at
                                      once, each on a thread of its own; beyond: 503 */
#define YIELDS           1         /* yields key, 0..8: a worker that finds no readable
                                      connection calls sched_yield() and looks again this many
                                      times before it sleeps in epoll_wait. Under load a client
                                      or the backend is about to make work: picking it up
                                      saves a sleep and a wake-up.
                                      A worker never yields while it holds a request */
#define MAX_CONNS        10000     /* open client connections; beyond: 503 + close */
#define MAX_ACTIVE       4096      /* connections holding a buffer (head being read, served,
                                      or held for an instance) */

/* buffers and HTTP limits (requests over them get 414/431) */
#define CONN_BUF         16384     /* per active client connection, bytes; holds the head */
#define RELAY_BUF        32768     /* per worker, bytes: body and response relay */
#define MAX_LINE         8192      /* request line, bytes: longer -> 414 */
#define MAX_HEAD         12288     /* header section, bytes: larger -> 431 */
#define MAX_HEADERS      100       /* header fields: more -> 431 */
#define MAX_CHUNK_LINE   4096      /* chunk-size line incl. extensions, bytes */
#define MAX_TRAILER      8192      /* chunked trailer section, bytes */

/* timeouts, milliseconds */
#define HEADER_TIMEOUT   10000     /* whole request head, total -> 408 */
#define BODY_TIMEOUT     30000     /* client body: idle between reads -> 408 */
#define KEEPALIVE_TIMEOUT 60000    /* idle keep-alive client connection -> close */
#define SEND_TIMEOUT     30000     /* one blocked write to a client or backend */
#define CONNECT_TIMEOUT  2000      /* backend connect -> next backend, then 502 */
#define BACKEND_TIMEOUT  60000     /* backend first byte and between reads -> 504 */
#define TUNNEL_TIMEOUT   600000    /* idle upgraded (WebSocket) tunnel -> close */
#define MIN_RATE         500       /* min_rate: bytes/s a request body or a response must
                                      average once MIN_RATE_GRACE has passed (a slower client
                                      gets 408, or its response is cut); 0 = off */
#define MIN_RATE_GRACE   20000     /* min_rate_grace, ms: a transfer may take this long plus
                                      1 s per MIN_RATE bytes moved */
#define DRAIN_TIMEOUT    30000     /* SIGTERM: finish in-flight requests */

/* backends */
#define BALANCE          "least"   /* "least" (outstanding requests) or "rr" */
#define MAX_FAILS        3         /* consecutive failures before a backend is down */
#define DOWN_BACKOFF     1000      /* first retry of a down backend, ms; doubles up to 30 s */
#define IDLE_PER_BACKEND 64        /* cached idle backend connections per backend */
#define BACKEND_IDLE     30000     /* cached backend connection lifetime, ms */
#define MAX_TRIES        3         /* backends tried when connects fail */

/* holding requests while no backend is ready (scale from zero) */
#define HOLD_TIMEOUT     30000     /* longest a request waits for an instance, ms -> 503 */
#define HOLD_MAX         1000      /* requests held at once; beyond: 503 + Retry-After */
#define CONN_CAP         0         /* in-flight requests per backend, 0 = no cap */
#define MAX_INFLIGHT     0         /* max_inflight: in-flight requests per app, 0 = no cap;
                                      beyond, requests are held (hold_timeout, hold_max) */
#define STARTING_PAGE    0         /* 1: held browser GETs (Accept: text/html) get a
                                      self-refreshing "starting" page + 503 instead */

/* autoscaling (-i image) */
#define IMAGE_PORT       80        /* -p port the image listens on */
#define MIN_INSTANCES    0         /* -m minimum instances, 0..1000 */
#define MAX_INSTANCES    4         /* -M maximum instances, 1..1000 */
#define TARGET_INFLIGHT  10        /* -c target in-flight requests per instance */
#define SET_NAME         ""        /* -n instance-set name: labels and container names;
                                      "" = from the listen address: "prescal-8080" for
                                      0.0.0.0:8080, "prescal-127.0.0.1-8080" for
                                      127.0.0.1:8080, so two instances on one daemon
                                      never share a set unless given the same name */
#define METRIC           "concurrency" /* "concurrency" or "rps" */
#define TARGET_RPS       100       /* with metric rps: requests/s per instance */
#define SCALE_DOWN_DELAY 30000     /* load below need this long before a scale-down, ms */
#define IDLE_TIMEOUT     60000     /* with -m 0: no request this long -> remove the last, ms */
#define START_TIMEOUT    30000     /* instance must be ready within, ms */
#define READY_PATH       "/"       /* readiness probe path (status < 500 = ready) */
#define PULL_POLICY      "missing" /* "never" or "missing" */
#define DRIVER           "container" /* "container", or "swarm": one Swarm service per
                                      instance (needs network: an overlay one) */
#define KEEP_ON_EXIT     0         /* 1: leave containers running on SIGTERM */
#define PAUSE_AFTER      0         /* unneeded this long -> pause, not remove (at least
                                      the scale-down delay), ms; 0 = off */
#define REMOVE_AFTER     0         /* paused this long -> removed (down to MIN_PAUSED),
                                      ms; 0 = kept paused */
#define MIN_PAUSED       0         /* instances kept started, ready and paused, 0..MAX_PAUSED */
#define MAX_PAUSED       4         /* at most this many paused, 0..1000 */
#define SAMPLE_MS        100       /* load sampling period, ms */
#define SCALE_WORKERS    4         /* threads running Docker starts/drains in parallel */

/* apps: several behind one listener, each matched by host name (exact or
 * "*.suffix", any case, port ignored) and path prefix, each with its own
 * backends or image and scaling. Unset fields take the defaults above (0 or
 * NULL); an app named "default" also gets requests nothing else matches.
 * A config file with app blocks replaces this table. Empty: the flags
 * (-b -i -p -m -M -c -n) define one app for every host. Example:
 *
 *	{ "blog",  "blog.example.com www.example.com", NULL, "127.0.0.1:9000", NULL },
 *	{ "api",   "api.example.com", "/v1", NULL, "api:latest", 8080, 0, 4, 10 },
 */
#define APPS { \
	/* name     hosts       path   backends   image   port min max target */ \
	{ NULL }, \
}

/* logging */
#define ACCESS_LOG       1         /* 1: one line per request on stdout; -q: 0 */

_Static_assert(NTHREADS >= 0 && NTHREADS <= THREADS_MAX, "NTHREADS 0..THREADS_MAX");
_Static_assert(THREADS_MIN >= 1 && THREADS_MIN <= THREADS_MAX, "THREADS_MIN 1..THREADS_MAX");
_Static_assert(AWAKE >= 1 && BLOCKED_MS >= 1 && BLOCKED_MS <= 1000, "AWAKE >= 1, BLOCKED_MS 1..1000");
_Static_assert(THREADS_MAX <= 65536, "THREADS_MAX at most 65536");
_Static_assert(WORKER_STACK >= 32 && WORKER_STACK <= 8192, "WORKER_STACK 32..8192 KiB");
_Static_assert(THREAD_STACK >= 64 && THREAD_STACK <= 8192, "THREAD_STACK 64..8192 KiB");
_Static_assert(MAX_HEAD < CONN_BUF, "MAX_HEAD must leave room in CONN_BUF");
_Static_assert(MAX_LINE <= MAX_HEAD, "MAX_LINE must fit in MAX_HEAD");
_Static_assert(RELAY_BUF >= 4096, "RELAY_BUF too small");
_Static_assert(MIN_INSTANCES <= MAX_INSTANCES, "MIN_INSTANCES above MAX_INSTANCES");
_Static_assert(MIN_PAUSED >= 0 && MIN_PAUSED <= MAX_PAUSED && MAX_PAUSED <= 1000,
               "0 <= MIN_PAUSED <= MAX_PAUSED <= 1000");
_Static_assert(PAUSE_AFTER >= 0 && REMOVE_AFTER >= 0, "PAUSE_AFTER, REMOVE_AFTER: ms or 0");
_Static_assert(SAMPLE_MS >= 10 && SAMPLE_MS <= 10000, "SAMPLE_MS 10..10000");
_Static_assert(MAX_ACTIVE >= NTHREADS && MAX_ACTIVE >= THREADS_MIN, "MAX_ACTIVE below the workers");
