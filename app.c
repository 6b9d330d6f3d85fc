/* See LICENSE file for copyright and license details. */
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scale.h"
#include "app.h"
#include "util.h"

/* one (host, path) of an app; a table keeps them most specific first */
struct route {
	char host[APP_HOSTLEN];  /* "" for none, "*.x" for a wildcard */
	size_t hostlen;
	int kind;                /* R_EXACT, R_WILD, R_ANY */
	char path[APP_PATHLEN];
	size_t pathlen;
	struct app *app;
};

enum { R_EXACT, R_WILD, R_ANY };

struct routes {
	struct route *r;
	int n;
	int *hash;             /* exact hosts: index of a host's first route, -1 = empty */
	unsigned hmask;
	int wild, any;         /* index of the first wildcard and catch-all route */
	struct app *def;       /* the app named "default", or NULL */
};

const char *
app_check_host(char *h)
{
	size_t n = strlen(h), i = 0;

	if (n == 0)
		return "empty host name";
	if (n >= APP_HOSTLEN)
		return "host name too long";
	if (h[0] == '*') {
		if (h[1] != '.' || !h[2])
			return "a wildcard must look like *.example.com";
		i = 2;
	}
	for (; i < n; i++) {
		h[i] = (char)tolower((unsigned char)h[i]);
		if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '.' && h[i] != '_')
			return "host names have letters, digits, '-', '_' and '.' only (no port)";
	}
	if (h[n - 1] == '.')
		h[n - 1] = '\0';
	return NULL;
}

const char *
app_check_path(const char *p)
{
	if (p[0] != '/')
		return "a path prefix starts with '/'";
	if (strlen(p) >= APP_PATHLEN)
		return "path prefix too long";
	for (; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '?' || *p == '#')
			return "no spaces, controls, '?' or '#' in a path prefix";
	return NULL;
}

static uint32_t
hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* most specific first: kind, then for wildcards the longer suffix, then
 * the host (so that one host's routes are together), then the longer path */
static int
cmp(const void *a, const void *b)
{
	const struct route *x = a, *y = b;
	int c;

	if (x->kind != y->kind)
		return x->kind - y->kind;
	if (x->kind == R_WILD && x->hostlen != y->hostlen)
		return x->hostlen > y->hostlen ? -1 : 1;
	if ((c = strcmp(x->host, y->host)))
		return c;
	if (x->pathlen != y->pathlen)
		return x->pathlen > y->pathlen ? -1 : 1;
	return 0;
}

struct routes *
routes_build(struct app *const *apps, int n, char *err, size_t errn)
{
	struct routes *rt;
	int i, k, m = 0;
	unsigned size = 16;

	if (!(rt = calloc(1, sizeof(*rt))))
		goto nomem;
	for (i = 0; i < n; i++)
		m += apps[i]->c.nhost ? apps[i]->c.nhost : 1;
	if (!(rt->r = calloc(m ? m : 1, sizeof(*rt->r))))
		goto nomem;
	for (i = 0; i < n; i++) {
		const struct app_conf *c = &apps[i]->c;
		for (k = 0; k < (c->nhost ? c->nhost : 1); k++) {
			struct route *r = &rt->r[rt->n++];
			snprintf(r->host, sizeof(r->host), "%s", c->nhost ? c->host[k] : "");
			r->hostlen = strlen(r->host);
			r->kind = !c->nhost ? R_ANY : r->host[0] == '*' ? R_WILD : R_EXACT;
			snprintf(r->path, sizeof(r->path), "%s", c->path);
			r->pathlen = strlen(r->path);
			/* "/" and "" both match every path */
			if (r->pathlen == 1)
				r->pathlen = 0;
			r->app = apps[i];
		}
		if (!strcmp(apps[i]->name, "default"))
			rt->def = apps[i];
	}
	qsort(rt->r, rt->n, sizeof(*rt->r), cmp);
	for (i = 1; i < rt->n; i++) {
		struct route *a = &rt->r[i - 1], *b = &rt->r[i];
		if (a->kind == b->kind && !strcmp(a->host, b->host) && a->pathlen == b->pathlen &&
		    !memcmp(a->path, b->path, a->pathlen)) {
			snprintf(err, errn, "apps %s and %s both match host %s path %s", a->app->name,
			         b->app->name, a->host[0] ? a->host : "(any)",
			         a->pathlen ? a->path : "/");
			routes_free(rt);
			return NULL;
		}
	}
	while (size < 2 * (unsigned)rt->n)
		size *= 2;
	if (!(rt->hash = malloc(size * sizeof(*rt->hash))))
		goto nomem;
	rt->hmask = size - 1;
	for (unsigned h = 0; h < size; h++)
		rt->hash[h] = -1;
	rt->wild = rt->any = rt->n;
	for (i = rt->n - 1; i >= 0; i--) {
		struct route *r = &rt->r[i];
		if (r->kind == R_WILD)
			rt->wild = i;
		else if (r->kind == R_ANY)
			rt->any = i;
	}
	rt->wild = MIN(rt->wild, rt->any);
	for (i = 0; i < rt->n && rt->r[i].kind == R_EXACT; i++) {
		if (i > 0 && !strcmp(rt->r[i - 1].host, rt->r[i].host))
			continue;  /* the host's first route is in already */
		unsigned h = hash(rt->r[i].host, rt->r[i].hostlen) & rt->hmask;
		while (rt->hash[h] >= 0)
			h = (h + 1) & rt->hmask;
		rt->hash[h] = i;
	}
	for (i = 0; i < rt->n; i++)
		app_get(rt->r[i].app);
	if (rt->def)
		app_get(rt->def);
	return rt;
nomem:
	snprintf(err, errn, "out of memory");
	routes_free(rt);
	return NULL;
}

void
routes_free(struct routes *rt)
{
	if (!rt)
		return;
	if (rt->hash) {  /* built: it holds references */
		for (int i = 0; i < rt->n; i++)
			app_put(rt->r[i].app);
		if (rt->def)
			app_put(rt->def);
	}
	free(rt->hash);
	free(rt->r);
	free(rt);
}

/* whether prefix p[0..pn) matches path[0..n) at a segment boundary:
 * "/api" matches "/api", "/api/x" and "/api?q", not "/apix" */
static int
prefixed(const char *path, size_t n, const char *p, size_t pn)
{
	if (pn == 0)
		return 1;
	if (n < pn || memcmp(path, p, pn))
		return 0;
	return n == pn || p[pn - 1] == '/' || path[pn] == '/' || path[pn] == '?';
}

/* the first route from i on, of the same host, whose prefix matches */
static struct app *
scan(const struct routes *rt, int i, const char *path, size_t pl)
{
	const struct route *first = &rt->r[i];

	for (; i < rt->n && rt->r[i].kind == first->kind && !strcmp(rt->r[i].host, first->host);
	     i++)
		if (prefixed(path, pl, rt->r[i].path, rt->r[i].pathlen))
			return rt->r[i].app;
	return NULL;
}

struct app *
routes_match(const struct routes *rt, const char *host, size_t hl, const char *path,
             size_t pl)
{
	char h[APP_HOSTLEN];
	struct app *a;
	size_t n = 0;
	int i;

	if (!rt)
		return NULL;
	/* the host without its port, lower case: "Example.COM.:8080" -> "example.com" */
	if (host && hl > 0 && host[0] != '[') {
		for (n = 0; n < hl && host[n] != ':' && n < sizeof(h) - 1; n++)
			h[n] = (char)tolower((unsigned char)host[n]);
		if (n == sizeof(h) - 1)
			n = 0;  /* longer than any configured name */
		if (n > 0 && h[n - 1] == '.')
			n--;
	}
	h[n] = '\0';
	if (n > 0) {
		unsigned k = hash(h, n) & rt->hmask;
		for (; (i = rt->hash[k]) >= 0; k = (k + 1) & rt->hmask) {
			if (rt->r[i].hostlen == n && !memcmp(rt->r[i].host, h, n)) {
				if ((a = scan(rt, i, path, pl)))
					return a;
				break;
			}
		}
		for (i = rt->wild; i < rt->any; i++) {
			const struct route *r = &rt->r[i];
			/* "*.x.y" (hostlen 5) matches names ending in ".x.y" */
			if (n > r->hostlen - 1 && !memcmp(h + n - (r->hostlen - 1), r->host + 1,
			                                  r->hostlen - 1) &&
			    prefixed(path, pl, r->path, r->pathlen))
				return r->app;
		}
	}
	for (i = rt->any; i < rt->n; i++)
		if (prefixed(path, pl, rt->r[i].path, rt->r[i].pathlen))
			return rt->r[i].app;
	return rt->def;
}

/* the installed table; readers hold the read lock for a lookup and a
 * reference increment only */
static pthread_rwlock_t rlock = PTHREAD_RWLOCK_INITIALIZER;
static struct routes *cur;

struct routes *
app_install(struct routes *rt)
{
	struct routes *old;

	pthread_rwlock_wrlock(&rlock);
	old = cur;
	cur = rt;
	pthread_rwlock_unlock(&rlock);
	return old;
}

struct app *
app_route(const char *host, size_t hl, const char *path, size_t pl)
{
	struct app *a;

	pthread_rwlock_rdlock(&rlock);
	if ((a = routes_match(cur, host, hl, path, pl)))
		app_get(a);
	pthread_rwlock_unlock(&rlock);
	return a;
}

void
app_get(struct app *a)
{
	atomic_fetch_add(&a->refs, 1);
}

int
app_put(struct app *a)
{
	return atomic_fetch_sub(&a->refs, 1) - 1;
}
