/* See LICENSE file for copyright and license details. */
/* admin.h: the admin listener: GET /metrics (Prometheus text format),
 * /status (JSON), / (HTML), /healthz. One thread serves a few clients at
 * once from a poll() loop, each with its own short deadlines; bound to a
 * loopback address it answers only a loopback Host. Nothing here touches
 * the request path. */

#ifndef ADMIN_H
#define ADMIN_H

struct app;
struct hist;

/* Every app is shown from what each_app() lets admin.c copy: its name and
 * match, its counters, its pool (pool_get_stats, pool_foreach), its
 * scaler (fleet_get_stats) and a scaled app's own history (app->hist). */
struct admin_conf {
	int (*draining)(void);             /* 1 once SIGTERM arrived */
	void (*conns)(long *open, long *idle); /* client connections now */
	/* worker threads now: polling epoll, serving and counted as awake,
	 * sleeping; the rest serve slow exchanges (prescal.c's awake bound) */
	void (*workers)(long *polling, long *serving, long *sleeping, long *all);
	struct hist *hist;                 /* all apps' history (hist.c), or NULL */
	/* calls fn(app, arg) for each app not removed, with the apps' lock
	 * held for reading; fn takes only the pool, fleet and hist locks */
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

#endif
