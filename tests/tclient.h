/* See LICENSE file for copyright and license details. */
/* tclient.h: helpers for prescal's integration tests — child processes,
 * free loopback ports, a raw HTTP/1.1 client over 127.0.0.1, and /proc
 * readings. Everything blocks with an explicit time-out in ms; helpers
 * return 0 or -1 unless said otherwise. The tproc_ functions belong to one
 * thread; the client functions may run in several threads, each on its own
 * connections (tconn_close_all() only when the others are done). */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* processes */

#define TPROC_MAX 32

struct tproc {
	pid_t pid;             /* 0 once reaped */
	int status;            /* waitpid status once reaped */
	int scope;             /* tproc_stop_scope() kills by scope */
	int used;              /* the slot is taken */
	char log[64];          /* stdout and stderr of the child */
};

/* Starts argv[0] (a path) with argv, stdout and stderr to a new temporary
 * file, env "K=V" strings (NULL-terminated, may be NULL) added to the
 * environment, in scope `scope`. Does not block. Returns a slot owned by
 * tclient, valid until tproc_stop(), or NULL. */
struct tproc *tproc_start(char *const argv[], char *const env[], int scope);

/* Waits up to timeout_ms for p to exit by itself. Returns 0 with p->status
 * set, or -1 if it is still running. */
int tproc_wait(struct tproc *p, int timeout_ms);

/* Sends sig (if still running), waits up to 2 s, then SIGKILLs and reaps.
 * Removes the log file unless $INTEG_KEEP_LOGS is set; frees the slot.
 * NULL is fine. */
void tproc_stop(struct tproc *p, int sig);

/* Sends SIGTERM and waits up to timeout_ms for p to exit, then SIGKILLs;
 * frees the slot like tproc_stop(). A sanitized process exits normally, so
 * LeakSanitizer gets to report. Returns the exit code, or -1 if p was
 * killed or died of a signal (its log goes to stderr then, and with any
 * non-zero exit). NULL returns 0. */
int tproc_term(struct tproc *p, int timeout_ms);

/* Stops every process of scope (SIGKILL). */
void tproc_stop_scope(int scope);

/* Reads up to n-1 bytes of p's log into buf (NUL-terminated). Returns buf. */
char *tproc_log(const struct tproc *p, char *buf, size_t n);

/* Returns how many times needle occurs in p's log (its first MiB). Uses a
 * buffer of tclient's: like the other tproc_ functions, one thread only. */
int tproc_log_count(const struct tproc *p, const char *needle);

/* Waits until needle occurs n times in p's log. Returns 0, or -1 at the
 * time-out or once p has exited. */
int tproc_wait_log(struct tproc *p, const char *needle, int n, int timeout_ms);

/* Runs argv to completion (at most timeout_ms, then SIGKILL), capturing
 * stdout+stderr into out. Returns the exit status, or -1 if it did not
 * exit by itself (killed, signalled or timed out). */
int trun(char *const argv[], int timeout_ms, char *out, size_t n);

/* sockets */

/* Returns a loopback TCP port that was free a moment ago, or -1. */
int free_port(void);

/* Waits until 127.0.0.1:port accepts a connection. */
int wait_port(int port, int timeout_ms);

/* Connects to 127.0.0.1:port. Returns the fd or -1 with errno. */
int tcp_connect(int port, int timeout_ms);

/* A client connection with its read buffer. */
struct tconn {
	int fd;
	size_t off, len;       /* unread bytes: buf[off..len) */
	char buf[16384];
};

/* Connects; returns a malloc'd tconn or NULL. Registers the fd so that
 * tconn_close_all() can close it after a failed test. */
struct tconn *tconn_open(int port, int timeout_ms);

/* Closes and frees c (NULL is fine). */
void tconn_close(struct tconn *c);

/* Closes every tconn still open (after a failed test). */
void tconn_close_all(void);

/* Sends all n bytes (MSG_NOSIGNAL). */
int tsend(struct tconn *c, const void *p, size_t n);

/* Sends a NUL-terminated string. */
int tsends(struct tconn *c, const char *s);

/* Reads whatever arrives within timeout_ms into buf. Returns bytes (> 0),
 * 0 at EOF, -1 on error (errno, ECONNRESET included) or -2 on time-out. */
ssize_t tread_some(struct tconn *c, char *buf, size_t n, int timeout_ms);

/* Waits for the peer to close. Returns 1 closed (EOF or reset) with no more
 * bytes, 0 still open at the time-out, -1 if bytes arrived instead. */
int tclosed(struct tconn *c, int timeout_ms);

enum { TF_NONE, TF_LENGTH, TF_CHUNKED, TF_CLOSE, NUM_TF };

/* One response. body (malloc'd, NUL-terminated) unless sink is set. */
struct tresp {
	int minor, status;
	char head[16384];      /* status line and fields, NUL-terminated */
	size_t headlen;
	int framing;           /* TF_ */
	char *body;
	size_t blen;           /* body bytes (also counted with a sink) */
	char trailer[4096];    /* chunked trailer section, NUL-terminated */
	int eof;               /* the body ended with the connection */
	int gone;              /* failed: the connection ended (EOF or reset) */
	char err[128];         /* why tresp_read failed */
	/* set by the caller (zero the struct first): body bytes go here
	 * instead of into body */
	void (*sink)(void *arg, const char *p, size_t n);
	void *sinkarg;
};

/* Reads one response (a 1xx is one too) framed by RFC 9112 6.3. is_head:
 * the request was HEAD. timeout_ms bounds the whole response. Returns 0,
 * or -1 with r->err set. Call tresp_free() afterwards either way. */
int tresp_read(struct tconn *c, struct tresp *r, int is_head, int timeout_ms);

/* Frees r->body. */
void tresp_free(struct tresp *r);

/* Frees every body not yet freed (after a failed test, when the tresp
 * structs are gone). Only when no other thread reads responses. */
void tresp_free_all(void);

/* Copies the value of the first field named name (any case) into out.
 * Returns out, or NULL if absent. */
char *tresp_hdr(const struct tresp *r, const char *name, char *out, size_t n);

/* Returns how many fields are named name. */
int tresp_nhdr(const struct tresp *r, const char *name);

/* Sends req and reads one final response (skipping 1xx) into r's body
 * (clears r->sink). */
int texchange(struct tconn *c, const char *req, struct tresp *r, int timeout_ms);

/* /proc */

/* Returns VmRSS of pid in KiB, or -1. */
long proc_rss_kb(pid_t pid);

/* Returns the number of open fds of pid, or -1. */
int proc_nfd(pid_t pid);

/* Returns the CPU seconds pid has used (utime + stime), or -1. */
double proc_cpu_s(pid_t pid);

/* misc */

#define FNV1A_INIT 0xcbf29ce484222325ull

/* Returns the FNV-1a 64 hash h continued over p[0..n). */
uint64_t fnv1a64(uint64_t h, const void *p, size_t n);

/* Sleeps ms milliseconds. */
void msleep(int ms);

/* temporary files */

/* Writes text to a new /tmp/prescal-<tag>-XXXXXX file (at most 32 live at
 * once). Returns its path (owned by tclient) or NULL. */
char *tmp_write(const char *tag, const char *text);

/* Removes the files tmp_write made, except keep (NULL: all). */
void tmp_remove(const char *keep);
