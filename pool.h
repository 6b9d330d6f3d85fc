/* See LICENSE file for copyright and license details. */
/* pool.h: the backend pool — a linked list of backends under one lock,
 * selection (least outstanding or round-robin), passive health, a bounded
 * cache of idle backend connections, and holding requests while no
 * backend is ready (scale from zero). */

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum backend_state {
	B_STARTING,   /* dynamic instance not ready yet: not selected */
	B_UP,         /* selectable */
	B_DOWN,       /* passive health failed: selected again after the back-off */
	B_DRAINING,   /* out of selection, finishing in-flight requests */
	B_PAUSED,     /* container frozen: not selected, no idle connections */
	B_REMOVED,    /* unlinked; freed when the last reference goes */
	NUM_B
};

extern const char *const backend_state_name[NUM_B];

enum pool_balance { BAL_LEAST, BAL_RR, NUM_BAL };

struct pool_conf {
	enum pool_balance balance;
	int max_fails;        /* consecutive failures before B_DOWN */
	int backoff_ms;       /* first down back-off; doubles up to 30 s */
	int idle_max;         /* cached idle connections per backend (<= POOL_IDLE_CAP) */
	int idle_ms;          /* cached connection lifetime */
	int hold;             /* 1: requests wait when nothing is ready (dynamic pools) */
	int hold_max;         /* requests held at once (pool_hold); beyond: 503 */
	int conn_cap;         /* in-flight cap per backend, 0 = none */
	int max_inflight;     /* in-flight cap for the whole pool (the app), 0 = none */
	void (*demand)(void *arg);   /* with hold: called (lock not held) when a pick
	                                finds nothing ready, whether or not it waits */
	void (*ready)(void *arg, int n); /* called (lock not held) while requests are
	                                    held, when n of them (-1: all) may find a
	                                    backend now */
	void *arg;            /* the callbacks' first argument */
};

struct pool;

/* pool_pick's answers when nothing is pickable: waiting can help; or the
 * app failed to start and no try comes before its back-off ends */
enum { POOL_WAIT = 1, POOL_FAILING = 2 };

#define POOL_CAUSE 256        /* bytes of a failing cause, with the NUL */

#define POOL_IDLE_CAP 256

/* Lock order: pool lock only; never held across I/O. */
struct backend {
	/* immutable after pool_add() */
	char name[72];                  /* "host:port" or container name */
	char id[65];                    /* container id, "" for static backends */
	int dynamic;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int64_t created;                /* now_ms() at pool_add */
	struct pool *pool;              /* the pool it belongs to */
	/* protected by the pool lock */
	struct backend *next;
	enum backend_state state;
	int fails;                      /* consecutive connect/response failures */
	int backoff;                    /* current down back-off, ms */
	int trial;                      /* a down backend was picked to try it */
	int64_t retry_at;               /* B_DOWN: selectable again at (ms) */
	int refs;                       /* list + each pick holding it */
	int nidle;
	int idle_fd[POOL_IDLE_CAP];
	int64_t idle_at[POOL_IDLE_CAP];
	/* atomics, read without the lock */
	atomic_int inflight;            /* requests in progress */
	atomic_int tunnels;             /* upgraded connections open */
	atomic_long served;             /* requests answered */
	atomic_long status[6];          /* responses by status class, [2] = 2xx */
};

struct pool_stats {
	int total, up, starting, down, draining, paused;
	int inflight, tunnels, waiting;
	long held_total, hold_rejected;
};

/* Allocates an empty pool with conf. Returns NULL on ENOMEM. */
struct pool *pool_new(const struct pool_conf *conf);

/* Replaces p's settings (a reload); picks from now on use them. */
void pool_set_conf(struct pool *p, const struct pool_conf *conf);

/* Frees p and its backends (those still referenced by a pick stay
 * allocated until pool_done/pool_unref; p must outlive them: call it only
 * once nothing is in flight). */
void pool_free(struct pool *p);

/* Adds a backend in state st. Returns it (owned by the pool), NULL on ENOMEM. */
struct backend *pool_add(struct pool *p, const char *name, const char *id, const struct sockaddr_storage *ss,
                         socklen_t sslen, enum backend_state st);

/* Sets b's state (calls conf.ready when it becomes B_UP). Any state but
 * B_UP and B_DOWN closes b's idle connections. */
void pool_set_state(struct backend *b, enum backend_state st);

/* Unlinks b and closes its idle connections; freed once no pick or
 * pool_ref holds it. */
void pool_remove(struct backend *b);

/* Keeps b allocated until the matching pool_unref (even if removed). */
void pool_ref(struct backend *b);
void pool_unref(struct backend *b);

/* Returns b's state (under the lock). */
enum backend_state pool_state(struct backend *b);

/* Chooses a backend, skipping those in skip[0..nskip). Never blocks.
 * Returns 0 with *out referenced and its in-flight count raised; when none
 * is pickable and nothing was skipped, POOL_FAILING while the app is
 * failing (pool_failing says why), or POOL_WAIT when one may be pickable
 * soon (conf.hold, or all busy at conn_cap or max_inflight): the caller may hold the
 * request (pool_hold) until conf.ready says so; or 503. */
int pool_pick(struct pool *p, struct backend **out, struct backend *const *skip, int nskip);

/* Marks the app as failing to start until until (now_ms() clock): while
 * nothing is pickable, picks return POOL_FAILING before then, and every held
 * request is resumed at once (conf.ready(-1)) to be answered with cause
 * (copied, at most POOL_CAUSE - 1 bytes). cause NULL clears the mark. */
void pool_set_failing(struct pool *p, const char *cause, int64_t until);

/* While the app is failing, copies its cause into out[0..n) (out may be
 * NULL) and returns the whole seconds to the next try (at least 1); else
 * returns 0. */
int pool_failing(struct pool *p, char *out, size_t n);

/* Whether a pick would find a backend now. */
int pool_pickable(struct pool *p);

/* Counts one more held request. Returns 0, or -1 when hold_max are held
 * already (counted as rejected). */
int pool_hold(struct pool *p);

/* Ends a hold that pool_hold counted. */
void pool_unhold(struct pool *p);

/* Ends a pick: ok 1 resets the failure count, ok 0 counts a failure and
 * may mark b down. Drops the reference taken by pool_pick. */
void pool_done(struct backend *b, int ok);

/* Returns a cached idle connection to b, or -1. Each is polled first (one
 * syscall): one with bytes or EOF waiting is closed, never handed out. */
int pool_conn_get(struct backend *b);

/* Caches fd as idle for b, or closes it when the cache is full or b is
 * not up. Takes ownership of fd. */
void pool_conn_put(struct backend *b, int fd);

/* Fills st with counts. */
void pool_get_stats(struct pool *p, struct pool_stats *st);

/* Calls fn(b, arg) for each backend with the lock held; fn must not block
 * or call pool_ functions. */
void pool_foreach(struct pool *p, void (*fn)(struct backend *b, void *arg), void *arg);

/* Stores up to max static backends of p in out, each referenced (end
 * with pool_unref). Returns how many. */
int pool_static(struct pool *p, struct backend **out, int max);

/* From now on no pick waits, and every held request is woken (shutdown). */
void pool_wake_all(struct pool *p);

/* Closes cached connections older than conf.idle_ms (main, every second). */
void pool_expire_idle(struct pool *p);
