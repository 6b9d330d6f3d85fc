/* See LICENSE file for copyright and license details. */
/*
 * conf.c: the settings table. Every setting is one row of opts[]: its
 * flag (if any), its key, its kind, whether it is global or per app, and
 * where it lives (an offset into struct settings or struct app_conf). The
 * flags, the config file, -T and the man page check all read that table,
 * so a key cannot be half-wired.
 *
 * The file: "key value" lines; '#' starts a comment. Global keys and app
 * keys outside any block come first: app keys there are the defaults of
 * every app. "app NAME" opens an app block that runs to the next one; its
 * keys override the defaults for that app. With no block, the keys (and
 * the flags -b -i -p -m -M -c -n) define one app that matches every host.
 */
#include <errno.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "docker.h"
#include "scale.h"
#include "app.h"
#include "conf.h"
#include "util.h"

enum { O_STR, O_INT, O_BACKEND, O_HOST, O_PATH, O_SPEC };  /* O_SPEC: a container setting */
enum { GLOBAL, APP };

struct option {
	char flag;            /* 0: config file only */
	const char *key;
	int kind;
	int scope;            /* GLOBAL: off is into struct settings; APP: into struct app_conf */
	size_t off;
	size_t size;          /* O_STR buffer size */
	long lo, hi;          /* O_INT range */
	const char *choices;  /* O_STR: the allowed values, space-separated */
};

#define G(f)  GLOBAL, offsetof(struct settings, f)
#define A(f)  APP, offsetof(struct app_conf, f)
#define GS(f) G(f), sizeof(((struct settings *)0)->f)
#define AS(f) A(f), sizeof(((struct app_conf *)0)->f)

static struct option opts[] = {  /* const but threads' bound: conf_init() */
	{ 'l', "listen",            O_STR,  GS(listen), 0, 0, NULL },
	{ 'a', "admin",             O_STR,  GS(admin), 0, 0, NULL },
	{ 't', "threads",           O_INT,  G(threads), 0, 0, 65536, NULL },
	{ 's', "socket",            O_STR,  GS(socket), 0, 0, NULL },
	{ 0, "access_log",          O_INT,  G(access_log), 0, 0, 1, NULL },
	{ 0, "max_conns",           O_INT,  G(max_conns), 0, 1, 1000000, NULL },
	{ 0, "max_active",          O_INT,  G(max_active), 0, 1, 100000, NULL },
	{ 0, "header_timeout",      O_INT,  G(header_timeout), 0, 100, 3600000, NULL },
	{ 0, "body_timeout",        O_INT,  G(body_timeout), 0, 100, 3600000, NULL },
	{ 0, "keepalive_timeout",   O_INT,  G(keepalive_timeout), 0, 100, 3600000, NULL },
	{ 0, "send_timeout",        O_INT,  G(send_timeout), 0, 100, 3600000, NULL },
	{ 0, "connect_timeout",     O_INT,  G(connect_timeout), 0, 10, 600000, NULL },
	{ 0, "backend_timeout",     O_INT,  G(backend_timeout), 0, 100, 3600000, NULL },
	{ 0, "tunnel_timeout",      O_INT,  G(tunnel_timeout), 0, 100, 86400000, NULL },
	{ 0, "drain_timeout",       O_INT,  G(drain_timeout), 0, 0, 3600000, NULL },
	{ 0, "max_tries",           O_INT,  G(max_tries), 0, 1, 16, NULL },
	{ 0, "defer_accept",        O_INT,  G(defer_accept), 0, 0, 1, NULL },
	{ 0, "yields",              O_INT,  G(yields), 0, 0, 8, NULL },
	{ 0, "max_tunnels",         O_INT,  G(max_tunnels), 0, 0, 100000, NULL },
	{ 0, "min_rate",            O_INT,  G(min_rate), 0, 0, 1000000000, NULL },
	{ 0, "min_rate_grace",      O_INT,  G(min_rate_grace), 0, 0, 3600000, NULL },
	/* per app */
	{ 'n', "name",              O_STR,  AS(name), 0, 0, NULL },
	{ 0, "host",                O_HOST, A(host), 0, 0, 0, NULL },
	{ 0, "path",                O_PATH, AS(path), 0, 0, NULL },
	{ 'b', "backend",           O_BACKEND, A(backend), 0, 0, 0, NULL },
	{ 'i', "image",             O_STR,  AS(sc.image), 0, 0, NULL },
	{ 'p', "port",              O_INT,  A(sc.port), 0, 1, 65535, NULL },
	{ 'm', "min",               O_INT,  A(sc.min), 0, 0, 1000, NULL },
	{ 'M', "max",               O_INT,  A(sc.max), 0, 1, 1000, NULL },
	{ 'c', "target",            O_INT,  A(sc.target), 0, 1, 100000, NULL },
	{ 0, "balance",             O_STR,  AS(balance), 0, 0, "least rr" },
	{ 0, "conn_cap",            O_INT,  A(conn_cap), 0, 0, 1000000, NULL },
	{ 0, "max_inflight",        O_INT,  A(max_inflight), 0, 0, 1000000, NULL },
	{ 0, "hold_timeout",        O_INT,  A(hold_timeout), 0, 0, 3600000, NULL },
	{ 0, "hold_max",            O_INT,  A(hold_max), 0, 0, 1000000, NULL },
	{ 0, "starting_page",       O_INT,  A(starting_page), 0, 0, 1, NULL },
	{ 0, "max_fails",           O_INT,  A(max_fails), 0, 1, 1000, NULL },
	{ 0, "down_backoff",        O_INT,  A(down_backoff), 0, 10, 600000, NULL },
	{ 0, "idle_per_backend",    O_INT,  A(idle_per_backend), 0, 0, 256, NULL },
	{ 0, "backend_idle",        O_INT,  A(backend_idle), 0, 100, 3600000, NULL },
	{ 0, "metric",              O_STR,  AS(sc.metric), 0, 0, "concurrency rps" },
	{ 0, "target_rps",          O_INT,  A(sc.target_rps), 0, 1, 10000000, NULL },
	{ 0, "scale_down_delay",    O_INT,  A(sc.down_delay), 0, 0, 86400000, NULL },
	{ 0, "idle_timeout",        O_INT,  A(sc.idle_timeout), 0, 0, 86400000, NULL },
	{ 0, "start_timeout",       O_INT,  A(sc.start_timeout), 0, 100, 3600000, NULL },
	{ 0, "ready_path",          O_STR,  AS(sc.ready_path), 0, 0, NULL },
	{ 0, "pull",                O_STR,  AS(sc.pull), 0, 0, "never missing" },
	{ 0, "keep_on_exit",        O_INT,  A(sc.keep), 0, 0, 1, NULL },
	{ 0, "host_network",        O_INT,  A(sc.hostnet), 0, 0, 1, NULL },
	{ 0, "network",             O_STR,  AS(sc.network), 0, 0, NULL },
	{ 0, "driver",              O_STR,  AS(sc.driver), 0, 0, "container swarm" },
	{ 0, "env",                 O_SPEC, A(sc.spec), 0, 0, 0, NULL },
	{ 0, "cmd",                 O_SPEC, A(sc.spec), 0, 0, 0, NULL },
	{ 0, "memory",              O_SPEC, A(sc.spec), 0, 0, 0, NULL },
	{ 0, "cpus",                O_SPEC, A(sc.spec), 0, 0, 0, NULL },
	{ 0, "volume",              O_SPEC, A(sc.spec), 0, 0, 0, NULL },
	{ 0, "label",               O_SPEC, A(sc.spec), 0, 0, 0, NULL },
	{ 0, "user",                O_SPEC, A(sc.spec), 0, 0, 0, NULL },
	{ 0, "constraint",          O_SPEC, A(sc.spec), 0, 0, 0, NULL },
	{ 0, "pause_after",         O_INT,  A(sc.pause_after), 0, 0, 86400000, NULL },
	{ 0, "remove_after",        O_INT,  A(sc.remove_after), 0, 0, 604800000, NULL },
	{ 0, "min_paused",          O_INT,  A(sc.min_paused), 0, 0, 1000, NULL },
	{ 0, "max_paused",          O_INT,  A(sc.max_paused), 0, 0, 1000, NULL },
};

void
conf_init(long threads_max)
{
	for (size_t i = 0; i < LEN(opts); i++)
		if (opts[i].scope == GLOBAL && opts[i].off == offsetof(struct settings, threads))
			opts[i].hi = threads_max;
}

/* whether val is one of the space-separated words of list */
static int
oneof(const char *list, const char *val)
{
	size_t n = strlen(val);

	for (const char *p = list; *p; p += strcspn(p, " "), p += *p == ' ')
		if (strcspn(p, " ") == n && !strncmp(p, val, n))
			return 1;
	return 0;
}

static void *
where(const struct option *o, struct settings *s, struct app_conf *a)
{
	return (char *)(o->scope == GLOBAL ? (void *)s : (void *)a) + o->off;
}

/* applies one value; returns NULL or what is wrong (in msg) */
static const char *
set(const struct option *o, void *dst, const char *val, char *msg, size_t n)
{
	struct app_conf *a = (struct app_conf *)((char *)dst - o->off);
	const char *e;
	char *w, *save, buf[1024];
	long v;

	switch (o->kind) {
	case O_PATH:
		if ((e = app_check_path(val)))
			return e;
		/* fall through */
	case O_STR:
		if (strlen(val) >= o->size)
			return "value too long";
		if (o->choices && !oneof(o->choices, val)) {
			const char *sep = strchr(o->choices, ' ');
			snprintf(msg, n, "expected %.*s or %s", (int)(sep - o->choices), o->choices,
			         sep + 1);
			return msg;
		}
		memcpy(dst, val, strlen(val) + 1);
		return NULL;
	case O_INT:
		if (parse_int(val, o->lo, o->hi, &v) < 0) {
			snprintf(msg, n, "expected a whole number from %ld to %ld", o->lo, o->hi);
			return msg;
		}
		*(long *)dst = v;
		return NULL;
	case O_HOST:
		snprintf(buf, sizeof(buf), "%s", val);
		for (w = strtok_r(buf, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
			if (a->nhost >= APP_HOSTS)
				return "too many host names (at most 16 per app)";
			if (strlen(w) >= APP_HOSTLEN)
				return "host name too long";
			if ((e = app_check_host(w))) {
				snprintf(msg, n, "%s: %s", w, e);
				return msg;
			}
			snprintf(a->host[a->nhost++], APP_HOSTLEN, "%s", w);
		}
		return NULL;
	case O_SPEC:
		return docker_spec_set(dst, o->key, val, msg, n) < 0 ? msg : NULL;
	case O_BACKEND:
		snprintf(buf, sizeof(buf), "%s", val);
		for (w = strtok_r(buf, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
			if (a->nbackend >= APP_BACKENDS)
				return "too many backends (at most 64 per app)";
			if (strlen(w) >= APP_HOSTLEN)
				return "backend address too long";
			snprintf(a->backend[a->nbackend++], APP_HOSTLEN, "%s", w);
		}
		return NULL;
	}
	return "unknown option kind";
}

static const struct option *
by_key(const char *key)
{
	for (size_t i = 0; i < LEN(opts); i++)
		if (!strcmp(opts[i].key, key))
			return &opts[i];
	return NULL;
}

static const struct option *
by_flag(int ch)
{
	for (size_t i = 0; i < LEN(opts); i++)
		if (opts[i].flag == ch)
			return &opts[i];
	return NULL;
}

int
conf_flag(struct conf_flags *fl, int ch, const char *val, FILE *err)
{
	const struct option *o = by_flag(ch);
	struct settings s;
	struct app_conf a;
	char msg[160];
	const char *e;

	if (!o) {
		fprintf(err, "prescal: unknown flag -%c\n", ch);
		return -1;
	}
	if (fl->n >= CONF_FLAGS) {
		fprintf(err, "prescal: too many flags\n");
		return -1;
	}
	/* checked now, so that a bad flag fails at start, not at a reload */
	memset(&s, 0, sizeof(s));
	memset(&a, 0, sizeof(a));
	if ((e = set(o, where(o, &s, &a), val, msg, sizeof(msg)))) {
		fprintf(err, "prescal: -%c '%s': %s\n", ch, val, e);
		return -1;
	}
	fl->ch[fl->n] = (char)ch;
	fl->val[fl->n++] = val;
	return 0;
}

static int
add_app(struct settings *s, const struct app_conf *from)
{
	struct app_conf *p;

	if (s->napp >= APP_MAX)
		return -1;
	if (!(p = realloc(s->app, (s->napp + 1) * sizeof(*p))))
		return -1;
	s->app = p;
	s->app[s->napp++] = *from;
	return 0;
}

/* "a b c" -> apps[] fields, from config.h's table */
static int
from_rules(struct settings *s, const struct conf_rule *r, FILE *err)
{
	struct app_conf a;
	const struct option *o;
	char msg[160];
	const char *e;

	for (; r && r->name; r++) {
		a = s->def;
		a.nhost = a.nbackend = 0;
		a.path[0] = '\0';
		snprintf(a.file, sizeof(a.file), "config.h");
		snprintf(a.name, sizeof(a.name), "%s", r->name);
		static const char *const keys[] = { "host", "path", "backend", "image" };
		const char *vals[] = { r->hosts && r->hosts[0] ? r->hosts : NULL, r->path,
		                       r->backends, r->image };
		for (size_t i = 0; i < LEN(keys); i++) {
			o = by_key(keys[i]);
			if (vals[i] && (e = set(o, where(o, s, &a), vals[i], msg, sizeof(msg)))) {
				fprintf(err, "prescal: config.h: apps[] %s: %s: %s\n", r->name, o->key, e);
				return -1;
			}
		}
		if (r->port)
			a.sc.port = r->port;
		if (r->min || r->max) {
			a.sc.min = r->min;
			a.sc.max = r->max;
		}
		if (r->target)
			a.sc.target = r->target;
		if (add_app(s, &a) < 0) {
			fprintf(err, "prescal: config.h: too many apps\n");
			return -1;
		}
		s->blocks = 1;
	}
	return 0;
}

/* reads "key value" lines and app blocks */
static int
load_file(struct settings *s, const char *path, FILE *err)
{
	char line[1024], msg[160], *key, *val, *end;
	const struct option *o;
	struct app_conf *cur = NULL;
	const char *e;
	FILE *f;
	int ln = 0, r = -1, rules = s->blocks;

	if (!(f = fopen(path, "r"))) {
		fprintf(err, "prescal: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		ln++;
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(err, "prescal: %s:%d: line too long\n", path, ln);
			goto out;
		}
		if ((end = strchr(line, '#')))
			*end = '\0';
		key = line + strspn(line, " \t\r\n");
		if (!*key)
			continue;
		val = key + strcspn(key, " \t\r\n");
		if (*val)
			*val++ = '\0';
		val += strspn(val, " \t");
		for (end = val + strlen(val); end > val && strchr(" \t\r\n", end[-1]); )
			*--end = '\0';
		if (!*val) {
			fprintf(err, "prescal: %s:%d: %s needs a value\n", path, ln, key);
			goto out;
		}
		if (!strcmp(key, "app")) {
			if (rules) {  /* the file's apps replace config.h's */
				s->napp = 0;
				rules = 0;
			}
			if (strlen(val) >= APP_NAME) {
				fprintf(err, "prescal: %s:%d: app '%s': name too long\n", path, ln, val);
				goto out;
			}
			if (add_app(s, &s->def) < 0) {
				fprintf(err, "prescal: %s:%d: too many apps (at most %d)\n", path, ln,
				        APP_MAX);
				goto out;
			}
			cur = &s->app[s->napp - 1];
			cur->nhost = cur->nbackend = 0;
			cur->path[0] = '\0';
			snprintf(cur->name, sizeof(cur->name), "%s", val);
			snprintf(cur->file, sizeof(cur->file), "%s", path);
			cur->line = ln;
			s->blocks = 1;
			continue;
		}
		if (!(o = by_key(key))) {
			fprintf(err, "prescal: %s:%d: unknown key '%s'\n", path, ln, key);
			goto out;
		}
		if (cur && o->scope == GLOBAL) {
			fprintf(err, "prescal: %s:%d: %s is a global key: put it above the first "
			        "app block\n", path, ln, key);
			goto out;
		}
		if (cur && o->off == offsetof(struct app_conf, name)) {
			fprintf(err, "prescal: %s:%d: name: an app block is named on its app line\n",
			        path, ln);
			goto out;
		}
		if ((e = set(o, where(o, s, cur ? cur : &s->def), val, msg, sizeof(msg)))) {
			fprintf(err, "prescal: %s:%d: %s '%s': %s\n", path, ln, key, val, e);
			goto out;
		}
		if (!cur && o->scope == APP) {
			snprintf(s->def.file, sizeof(s->def.file), "%s", path);
			s->def.line = ln;
		}
	}
	if (ferror(f))
		fprintf(err, "prescal: %s: read error\n", path);
	else
		r = 0;
out:
	fclose(f);
	return r;
}

/* the flags, over the file: app flags apply to every app */
static int
apply_flags(struct settings *s, const struct conf_flags *fl, FILE *err)
{
	char msg[160];
	int cleared = 0;

	for (int i = 0; i < fl->n; i++) {
		const struct option *o = by_flag(fl->ch[i]);
		const char *e = NULL;
		if (o->scope == APP && s->blocks && strchr("bin", fl->ch[i])) {
			fprintf(err, "prescal: -%c defines the one app of a setup without app "
			        "blocks, but %s defines apps\n", fl->ch[i],
			        fl->file ? fl->file : "config.h");
			return -1;
		}
		if (o->kind == O_BACKEND && !cleared++)
			s->def.nbackend = 0;  /* -b replaces the file's backends */
		if (o->scope == GLOBAL) {
			e = set(o, where(o, s, NULL), fl->val[i], msg, sizeof(msg));
		} else {
			e = set(o, where(o, s, &s->def), fl->val[i], msg, sizeof(msg));
			for (int k = 0; !e && k < s->napp; k++)
				e = set(o, where(o, s, &s->app[k]), fl->val[i], msg, sizeof(msg));
		}
		if (e) {
			fprintf(err, "prescal: -%c '%s': %s\n", fl->ch[i], fl->val[i], e);
			return -1;
		}
	}
	if (fl->quiet)
		s->access_log = 0;
	return 0;
}

/* "file:line: app NAME" for messages */
static void
origin(const struct app_conf *a, char *out, size_t n)
{
	if (a->file[0] && a->line)
		snprintf(out, n, "%s:%d: app %s", a->file, a->line, a->name);
	else if (a->file[0])
		snprintf(out, n, "%s: app %s", a->file, a->name);
	else
		snprintf(out, n, "app %s", a->name);
}

/* the checks that span keys, for one app */
static int
check_app(struct settings *s, struct app_conf *a, FILE *err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char where_[256], *buf = NULL;
	const char *msg;
	size_t len = 0;
	FILE *m;
	int r = 0;

	/* one app of flags and top-level keys: messages as they always were */
	if (s->blocks) {
		origin(a, where_, sizeof(where_) - 2);
		memcpy(where_ + strlen(where_), ": ", 3);
	} else {
		where_[0] = '\0';
	}
	if (a->nbackend == 0 && !a->sc.image[0]) {
		fprintf(err, "prescal: %snothing to proxy to: give %s\n", where_,
		        s->blocks ? "backend host:port or image" : "-b host:port or -i image");
		return -1;
	}
	for (int i = 0; i < a->nbackend; i++) {
		if (resolve_addr(a->backend[i], "127.0.0.1", &ss, &sl, &msg) < 0) {
			fprintf(err, "prescal: %sbackend %s: %s\n", where_, a->backend[i], msg);
			return -1;
		}
	}
	if (a->sc.image[0] && a->sc.min > a->sc.max) {
		if (s->blocks)
			fprintf(err, "prescal: %smin %ld is above max %ld\n", where_, a->sc.min,
			        a->sc.max);
		else
			fprintf(err, "prescal: -m %ld is above -M %ld\n", a->sc.min, a->sc.max);
		return -1;
	}
	snprintf(a->sc.name, sizeof(a->sc.name), "%s", a->name);
	snprintf(a->sc.socket, sizeof(a->sc.socket), "%s", s->socket);
	/* one key for both drains: shutdown, and an instance leaving */
	a->sc.drain_timeout = s->drain_timeout;
	if (!(m = open_memstream(&buf, &len)))
		return -1;
	r = scale_check_conf(&a->sc, m);
	fclose(m);
	if (r < 0) {
		/* its lines say "prescal: ...": say which app */
		for (char *l = buf, *e; l && *l; l = *e ? e + 1 : e) {
			e = l + strcspn(l, "\n");
			if (!strncmp(l, "prescal: ", 9))
				l += 9;
			fprintf(err, "prescal: %s%.*s\n", where_, (int)(e - l), l);
		}
	}
	free(buf);
	return r;
}

/* two apps must not match the same host and path */
static int
check_routes(struct settings *s, FILE *err)
{
	struct app *a = calloc(s->napp, sizeof(*a));
	struct app **list = calloc(s->napp, sizeof(struct app *));
	struct routes *rt = NULL;
	char msg[256], w[256];
	int r = -1;

	if (a && list) {
		for (int i = 0; i < s->napp; i++) {
			a[i].c = s->app[i];
			snprintf(a[i].name, sizeof(a[i].name), "%s", s->app[i].name);
			list[i] = &a[i];
		}
		if ((rt = routes_build(list, s->napp, msg, sizeof(msg)))) {
			r = 0;
		} else {
			/* the later of the two, where the user looks */
			int k = s->napp - 1;
			char p1[128], p2[128];
			for (int i = 0; i < s->napp; i++) {
				for (int j = i + 1; j < s->napp; j++) {
					snprintf(p1, sizeof(p1), "apps %s and %s ", a[i].name, a[j].name);
					snprintf(p2, sizeof(p2), "apps %s and %s ", a[j].name, a[i].name);
					if (!strncmp(msg, p1, strlen(p1)) || !strncmp(msg, p2, strlen(p2)))
						k = j;
				}
			}
			origin(&s->app[k], w, sizeof(w));
			fprintf(err, "prescal: %s: %s\n", w, msg);
		}
	}
	routes_free(rt);
	free(list);
	free(a);
	return r;
}

/*
 * the worker count. A worker blocks for a request's whole exchange, so the
 * pool must carry what the apps allow in flight: per app, max x target of
 * its image plus what its static backends take (conn_cap each, else
 * per_backend), capped by its max_inflight; then a quarter for bursts,
 * between lo and hi. An explicit threads wins; below the need it gets a
 * note in threads_why.
 */
static void
size_threads(struct settings *s, int lo, int hi, int per_backend)
{
	long need = 0;

	for (int i = 0; i < s->napp; i++) {
		const struct app_conf *a = &s->app[i];
		long n = a->sc.image[0] ? a->sc.max * a->sc.target : 0;
		n += a->nbackend * (a->conn_cap ? a->conn_cap : per_backend);
		if (a->max_inflight > 0)
			n = MIN(n, a->max_inflight);
		need += n;
	}
	need += need / 4;
	if (s->threads == 0) {
		s->threads = MIN(MAX(need, lo), hi);
		snprintf(s->threads_why, sizeof(s->threads_why), "auto: %ld in flight at the "
		         "scaling bounds and static backends, +25%%, within %d..%d", need - need / 5,
		         lo, hi);
	} else if (s->threads < need) {
		snprintf(s->threads_why, sizeof(s->threads_why), "below the %ld that the scaling "
		         "bounds and static backends need (+25%%): requests beyond it wait for a "
		         "worker", need);
	} else {
		snprintf(s->threads_why, sizeof(s->threads_why), "set");
	}
}

int
conf_load(struct settings *s, const struct settings *def, const struct conf_rule *rules,
          const struct conf_flags *fl, int threads_min, int threads_max, int per_backend,
          FILE *err)
{
	*s = *def;
	s->app = NULL;
	s->napp = 0;
	s->blocks = 0;
	if (from_rules(s, rules, err) < 0 || (fl->file && load_file(s, fl->file, err) < 0) ||
	    apply_flags(s, fl, err) < 0)
		goto fail;
	if (!s->blocks) {
		/* no app blocks: the defaults are the one app, for every host */
		scale_default_name(&s->def.sc, s->listen);
		if (!s->def.name[0])
			snprintf(s->def.name, sizeof(s->def.name), "%.48s", s->def.sc.name);
		if (add_app(s, &s->def) < 0)
			goto fail;
	}
	for (int i = 0; i < s->napp; i++) {
		if (check_app(s, &s->app[i], err) < 0)
			goto fail;
		for (int k = 0; k < i; k++) {
			if (!strcmp(s->app[k].name, s->app[i].name)) {
				char w[256];
				origin(&s->app[i], w, sizeof(w));
				fprintf(err, "prescal: %s: a second app of that name\n", w);
				goto fail;
			}
		}
	}
	if (check_routes(s, err) < 0)
		goto fail;
	size_threads(s, threads_min, threads_max, per_backend);
	if (s->max_active < s->threads)
		s->max_active = s->threads;
	return 0;
fail:
	conf_free(s);
	return -1;
}

void
conf_free(struct settings *s)
{
	free(s->app);
	s->app = NULL;
	s->napp = 0;
}

static void
print_opt(const struct option *o, const void *base, const char *indent, FILE *out)
{
	const void *p = (const char *)base + o->off;
	const struct app_conf *a = base;
	char val[2 * DOCKER_SPEC_MAXSTR];

	switch (o->kind) {
	case O_STR:
	case O_PATH:
		if (o->off == offsetof(struct app_conf, path) && o->scope == APP && !*(const char *)p)
			return;  /* every path */
		fprintf(out, "%s%-18s %s\n", indent, o->key,
		        *(const char *)p ? (const char *)p : "\"\"");
		break;
	case O_INT:
		fprintf(out, "%s%-18s %ld\n", indent, o->key, *(const long *)p);
		break;
	case O_HOST:
		for (int k = 0; k < a->nhost; k++)
			fprintf(out, "%s%-18s %s\n", indent, o->key, a->host[k]);
		break;
	case O_BACKEND:
		for (int k = 0; k < a->nbackend; k++)
			fprintf(out, "%s%-18s %s\n", indent, o->key, a->backend[k]);
		break;
	case O_SPEC:
		for (size_t k = 0; docker_spec_get(p, o->key, k, val, sizeof(val)); k++)
			fprintf(out, "%s%-18s %s\n", indent, o->key, val);
		break;
	}
}

void
conf_print(const struct settings *s, FILE *out)
{
	for (size_t i = 0; i < LEN(opts); i++) {
		if (opts[i].scope != GLOBAL)
			continue;
		if (opts[i].off == offsetof(struct settings, threads))
			fprintf(out, "# threads: %s\n", s->threads_why);
		print_opt(&opts[i], s, "", out);
	}
	for (int k = 0; k < s->napp; k++) {
		if (s->blocks)
			fprintf(out, "\napp %s\n", s->app[k].name);
		for (size_t i = 0; i < LEN(opts); i++)
			if (opts[i].scope == APP && (!s->blocks ||
			    opts[i].off != offsetof(struct app_conf, name)))
				print_opt(&opts[i], &s->app[k], s->blocks ? "\t" : "", out);
	}
	fflush(out);
}

void
conf_keys(FILE *out)
{
	fprintf(out, "app app\n");
	for (size_t i = 0; i < LEN(opts); i++)
		fprintf(out, "%s %s\n", opts[i].key, opts[i].scope == GLOBAL ? "global" : "app");
}
