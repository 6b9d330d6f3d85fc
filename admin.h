/* See LICENSE file for copyright and license details. */
/* admin.h: the admin listener: GET /metrics (Prometheus text format),
 * /status (JSON), / (HTML), /healthz. One thread serves a few clients at
 * once from a poll() loop, each with its own short deadlines; bound to a
 * loopback address it answers only a loopback Host. Nothing here touches
 * the request path. */

struct app;

struct admin_conf {
	int scaling;                       /* 1 with -i: include the scaler */
	const char *image, *set;           /* -i, -n */
	long min, max, target;             /* -m, -M, -c */
	int (*draining)(void);             /* 1 once SIGTERM arrived */
	void (*conns)(long *open, long *idle); /* client connections now */
	struct hist *hist;                 /* the set's history (hist.c), or NULL */
	/* calls fn(app, arg) for each app, with the apps' lock held for reading */
	void (*each_app)(void (*fn)(struct app *a, void *arg), void *arg);
};

/* Opens the admin listening socket for addr ("[host:]port"). Returns the
 * fd, or -1 with a message in *msg. */
int admin_listen(const char *addr, const char **msg);

/* Thread body: serves the admin socket fd forever (makes it
 * non-blocking). arg: the fd as (void *)(intptr_t)fd. Call admin_init()
 * first. */
void *admin_loop(void *arg);

/* Stores conf (copied). */
void admin_init(const struct admin_conf *conf);
