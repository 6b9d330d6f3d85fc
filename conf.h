/* See LICENSE file for copyright and license details. */
/* conf.h: the settings and the one table that drives them: flags, config
 * file keys (global ones and app blocks), -T's output and the key list the
 * man page is checked against. Nothing here exits: errors go to a FILE
 * with file:line and the key, so a reload can keep the old settings.
 * Needs stdio.h, scale.h and app.h. */

#define CONF_FLAGS 256         /* flags remembered for reloads */

struct settings {
	char listen[128], admin[128], socket[256];
	long threads, max_conns, max_active;
	long header_timeout, body_timeout, keepalive_timeout, send_timeout;
	long connect_timeout, backend_timeout, tunnel_timeout, drain_timeout;
	long max_tries, access_log, defer_accept, yields, max_tunnels;
	long min_rate, min_rate_grace;
	struct app_conf def;       /* app keys outside app blocks (and flags):
	                              every app's defaults */
	struct app_conf *app;      /* the apps (at least one once conf_load is done) */
	int napp;
	int blocks;                /* the apps come from app blocks or the apps[] table */
	char threads_why[160];     /* how the worker count was chosen */
};

/* config.h's apps[] table, in the manner of dwm's rules[]: a NULL name ends it */
struct conf_rule {
	const char *name;
	const char *hosts;         /* space-separated; NULL or "": every host */
	const char *path;          /* prefix; NULL: every path */
	const char *backends;      /* space-separated host:port, or NULL */
	const char *image;         /* NULL: not scaled */
	int port, min, max, target;  /* 0: the default */
};

/* flags as given, applied after the file on every (re)load */
struct conf_flags {
	int n;
	char ch[CONF_FLAGS];
	const char *val[CONF_FLAGS];
	const char *file;          /* -f, or NULL */
	int quiet;                 /* -q */
};

/* Sets the bounds that come from config.h (threads at most threads_max);
 * call first. */
void conf_init(long threads_max);

/* Records flag ch (one of "l b t a i p m M c n s") with val. Returns 0, or
 * -1 with a message on err for an unknown flag or a bad value. */
int conf_flag(struct conf_flags *fl, int ch, const char *val, FILE *err);

/* Builds s from def (config.h's values, with rules[] the apps table,
 * NULL-name terminated; may be NULL), then fl->file, then the flags; then
 * checks it (names every problem as "prescal: file:line: key: ..." on
 * err) and sizes the threads. Returns 0 or -1; on -1 s is freed. Reads
 * the file; does not exit. */
int conf_load(struct settings *s, const struct settings *def, const struct conf_rule *rules,
              const struct conf_flags *fl, int threads_min, int threads_max,
              int per_backend, FILE *err);

/* Frees what conf_load allocated in s. */
void conf_free(struct settings *s);

/* -T: the effective configuration in the file's syntax, every app's block
 * in full. */
void conf_print(const struct settings *s, FILE *out);

/* Writes every key, one per line, "global" or "app" after it (for the
 * test that checks the man page lists them all). */
void conf_keys(FILE *out);
