/* See LICENSE file for copyright and license details. */
/* app.h: the apps behind one prescal and the routes to them. An app has a
 * name, a match (host names, exact or "*.suffix", and a path prefix), its
 * backends (static host:port entries and/or an image that is scaled) and
 * its own pool and scaling settings. A route table is built once per
 * configuration and swapped whole on a reload; app_route() is what the
 * request path calls. Needs stdatomic.h, stddef.h and scale.h. */

#define APP_NAME     49        /* bytes of a name with the NUL: it prefixes
                                  container names ("<app>-<n>") */
#define APP_HOSTS    16        /* host names per app */
#define APP_HOSTLEN  128       /* bytes of one, with the NUL */
#define APP_PATHLEN  128       /* bytes of the path prefix, with the NUL */
#define APP_BACKENDS 64        /* static backends per app */
#define APP_MAX      1000      /* apps per prescal */

/* what the configuration says about one app */
struct app_conf {
	char name[APP_NAME];
	char host[APP_HOSTS][APP_HOSTLEN];  /* lower case; "*.x.y" matches any name
	                                       ending in ".x.y"; none: every host */
	int nhost;
	char path[APP_PATHLEN];             /* prefix; "" matches every path */
	char backend[APP_BACKENDS][APP_HOSTLEN];  /* static "host:port" */
	int nbackend;
	struct scale_conf sc;               /* sc.image "" = no scaling; sc.name = name */
	char balance[8];                    /* "least" or "rr" */
	long conn_cap;                      /* in-flight per backend, 0 = none */
	long max_inflight;                  /* in-flight for the app, 0 = none */
	long hold_timeout, hold_max;        /* held requests: ms each, at once */
	long starting_page;                 /* 1: browsers get a "starting" page */
	long max_fails, down_backoff;       /* passive health */
	long idle_per_backend, backend_idle; /* cached backend connections */
	char file[128];                     /* where it was defined, for messages */
	int line;
};

struct pool;
struct fleet;
struct hist;

/* one app at run time */
struct app {
	char name[APP_NAME];                /* c.name, for good: a reload that renames
	                                       an app removes one and adds another */
	struct app_conf c;                  /* changed by a reload: main writes it, and
	                                       others read it, under the owner's lock */
	/* what the request path reads; a reload stores new values */
	_Atomic long hold_timeout, starting_page;
	struct pool *pool;
	struct fleet *_Atomic fleet;        /* NULL when the app is not scaled */
	struct hist *hist;                  /* a scaled app's last 15 minutes (hist.c),
	                                       or NULL; set under the owner's lock */
	void *owner;                        /* the caller's (prescal.c: held list) */
	atomic_int refs;                    /* routes + requests that hold it */
	int removed;                        /* a reload removed it: no new requests */
	atomic_long requests, bytes, status[6];  /* answered, by status class */
	struct app *next;                   /* the caller's list of all apps */
};

struct routes;

/* Lower-cases and checks a host pattern ("a.example.com", "*.example.com");
 * returns NULL or what is wrong. Pure. */
const char *app_check_host(char *h);

/* Checks a path prefix (starts with '/', no spaces or controls); returns
 * NULL or what is wrong. Pure. */
const char *app_check_path(const char *p);

/* Builds the route table for apps[0..n): most specific first (exact host,
 * then wildcards, longest suffix first, then apps with no host; within a
 * host, the longest path prefix). An app named "default" also gets the
 * requests nothing matches. Two apps with the same host and path are an
 * error written to err[0..errn). Returns the table, or NULL. The table
 * copies what it needs of each app's c and takes a reference to it. */
struct routes *routes_build(struct app *const *apps, int n, char *err, size_t errn);

/* Frees rt and drops its references (apps are not freed: app_put does). */
void routes_free(struct routes *rt);

/* The app for a request to host[0..hl) (port and a trailing dot ignored,
 * any case) and path[0..pl), or NULL. Pure; does not take a reference. */
struct app *routes_match(const struct routes *rt, const char *host, size_t hl,
                         const char *path, size_t pl);

/* Installs rt as the table app_route() uses; returns the one before
 * (which no app_route() reads any more), or NULL. */
struct routes *app_install(struct routes *rt);

/* The app for a request, with a reference the caller ends with app_put(),
 * or NULL (no app matches: 404). Never blocks for long (a read lock). */
struct app *app_route(const char *host, size_t hl, const char *path, size_t pl);

/* Takes one more reference to a. */
void app_get(struct app *a);

/* Drops a reference; returns the count left (the owner frees at 0). */
int app_put(struct app *a);
