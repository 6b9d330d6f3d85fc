/* See LICENSE file for copyright and license details. */
/* docker.h: a small Docker Engine API client (API 1.41) over a unix
 * socket. Every docker_* call except open/close/error/status does blocking
 * I/O bounded by the handle's timeout. Calls return 0 (or the value said)
 * on success and -1 on error, with the text in docker_error() and the HTTP
 * status, if any, in docker_status(). One handle per calling thread: a
 * handle holds one keep-alive connection and its own bounded buffers.
 *
 * Containers are labelled prescal.managed=true, prescal.name=<set> and
 * prescal.image=<image>; docker_list() and docker_events_open() select
 * them by the first two. */
#ifndef DOCKER_H
#define DOCKER_H

#include <stddef.h>

#define DOCKER_API       "/v1.41"
#define DOCKER_MAXBODY   (1 << 20)  /* bytes: larger responses are an error */
#define DOCKER_MAXHEAD   16384      /* bytes of a response head */
#define DOCKER_LOGMAX    4096       /* bytes of a log tail kept (the last ones) */

enum {
	DOCKER_HEALTH_NONE,       /* the container has no healthcheck */
	DOCKER_HEALTH_STARTING,
	DOCKER_HEALTH_HEALTHY,
	DOCKER_HEALTH_UNHEALTHY,
	NUM_DOCKER_HEALTH
};

struct docker;

struct docker_spec {
	const char *image;        /* e.g. "prescal-demo:latest" */
	const char *name;         /* container name: [a-zA-Z0-9][a-zA-Z0-9_.-]* */
	const char *set;          /* instance-set name, becomes label prescal.name */
	int port;                 /* container port (tcp), published on 127.0.0.1
	                             with an ephemeral host port */
	const char *const *env;   /* "K=V" strings, passed as they are */
	size_t nenv;
	int hostnet;              /* 1: NetworkMode "host"; nothing is published,
	                             the container listens on the host's port */
	const char *const *cmd;   /* Cmd: the argv; none: the image's */
	size_t ncmd;
	long long memory;         /* HostConfig.Memory, bytes; 0: no limit */
	long long nanocpus;       /* HostConfig.NanoCpus, 1e9 per CPU; 0: no limit */
	const char *const *volumes; /* HostConfig.Binds: "name:/path[:ro]" (a named
	                             volume) or "/host/path:/path[:ro]" */
	size_t nvolumes;
	const char *const *labels; /* "k=v" beside the prescal.* ones, which win */
	size_t nlabels;
	const char *user;         /* Config.User "user[:group]"; NULL or "": the image's */
	const char *network;      /* NULL or "": publish on 127.0.0.1; else join this
	                             user-defined network (NetworkMode) and publish
	                             nothing: reached at its IP there on port */
};

/* container settings from a config file: docker_spec_set() fills one, key
 * by key; docker_spec_view() lends its strings to a struct docker_spec.
 * Plain data without pointers: copy it with '=', compare it with
 * docker_spec_equal(). Zero it (memset or "= { 0 }") before use. */
#define DOCKER_SPEC_MAXITEMS 32    /* env, cmd, volume and label entries, each */
#define DOCKER_SPEC_MAXLEN   1024  /* bytes of one value */
#define DOCKER_SPEC_MAXSTR   8192  /* bytes of all of its strings together */
#define DOCKER_SPEC_MAXUSER  64    /* bytes of user */

/* the lists; constraint is for driver swarm only (a container ignores it) */
enum { DOCKER_SL_ENV, DOCKER_SL_CMD, DOCKER_SL_VOLUME, DOCKER_SL_LABEL, DOCKER_SL_CONSTRAINT,
       NUM_DOCKER_SL };

struct docker_spec_buf {
	char str[DOCKER_SPEC_MAXSTR];   /* the strings, each NUL-terminated */
	size_t len;                     /* bytes of str used */
	unsigned short off[NUM_DOCKER_SL][DOCKER_SPEC_MAXITEMS]; /* into str */
	unsigned char n[NUM_DOCKER_SL]; /* entries in each list */
	long long memory;               /* bytes, 0: no limit */
	long long nanocpus;             /* 0: no limit */
	char user[DOCKER_SPEC_MAXUSER];
};

/* the pointer arrays docker_spec_view() fills: the lists, plus room for
 * the caller's own env entries */
#define DOCKER_SPEC_NVEC (NUM_DOCKER_SL * DOCKER_SPEC_MAXITEMS + 8)

struct docker_net {
	char name[64];            /* network name ("bridge", or user-defined) */
	char ip[46];              /* its IPAddress, "" if none yet */
};
#define DOCKER_MAXNETS 4          /* networks kept per container */

struct docker_state {
	int running, exitcode;
	int oomkilled;            /* State.OOMKilled */
	int paused;               /* State.Paused (then running is 1 too) */
	char error[384];          /* State.Error (e.g. why start failed), control bytes '?' */
	char status[16];          /* created/running/paused/restarting/exited/dead */
	int health;               /* DOCKER_HEALTH_* */
	int hostport;             /* NetworkSettings.Ports["<port>/tcp"][0].HostPort, 0 if none */
	char name[128];           /* without the leading '/' */
	struct docker_net nets[DOCKER_MAXNETS]; /* NetworkSettings.Networks */
	size_t nnets;
};

struct docker_ctr {
	char id[65];
	char name[128];           /* the first name, without the leading '/' */
	char state[16];           /* created/running/exited/... */
	int hostport;             /* PublicPort where PrivatePort == port (tcp), 0 if none */
	char image[256];          /* label prescal.image, else Image as created */
	struct docker_net nets[DOCKER_MAXNETS]; /* NetworkSettings.Networks */
	size_t nnets;
};

struct docker_event {
	char type[12];            /* "container", or "service" or "node" (swarm stream) */
	char id[65];
	char action[32];          /* create/start/die/kill/stop/destroy/... (truncated) */
	char name[128];           /* Actor.Attributes.name */
	int exitcode;             /* Actor.Attributes.exitCode on "die", else 0 */
};

/* Applies one config key of container settings to s: env "K=V" (not
 * PORT or PRESCAL_INSTANCE, which prescal sets), cmd
 * "ARGS" (words split at blanks; "..." quotes, with \" and \\ inside),
 * volume "SRC:/PATH[:ro|:rw]", label "K=V" (not prescal.*) append; memory
 * "N[b|k|m|g]" (1024s), cpus "N[.N]" and user "USER[:GROUP]" replace.
 * Returns 0, or -1 with s unchanged and err[0..n) saying what is wrong.
 * Pure. */
int docker_spec_set(struct docker_spec_buf *s, const char *key, const char *val, char *err,
                    size_t n);

/* Writes the i-th value of key (as docker_spec_set() reads it back: cmd
 * is one value, its words quoted as needed) into out[0..n). Returns 1, or
 * 0 if there is none (then out is ""). Pure. */
int docker_spec_get(const struct docker_spec_buf *s, const char *key, size_t i, char *out,
                    size_t n);

/* Returns 1 if a and b hold the same settings (in the same order), else 0.
 * Pure. */
int docker_spec_equal(const struct docker_spec_buf *a, const struct docker_spec_buf *b);

/* Points s's cmd, volumes, labels, user and limits at b's, and s->env at
 * b's env followed by the npre strings of pre (which thus win), using
 * vec[0..nvec) for the pointer arrays; other fields of s are left as they
 * are. b, pre and vec must outlive s. Returns 0, -1 if vec is too small.
 * Pure. */
int docker_spec_view(const struct docker_spec_buf *b, const char *const *pre, size_t npre,
                     const char **vec, size_t nvec, struct docker_spec *s);

/* Returns the IP of the network named name among nets[0..n), or NULL if
 * the container is not on it or has no IP there yet. Pure. */
const char *docker_net_ip(const struct docker_net *nets, size_t n, const char *name);

/* Returns the socket path from DOCKER_HOST if it is "unix://PATH", else
 * "/var/run/docker.sock". The string is not owned by the caller. */
const char *docker_default_socket(void);

/* Allocates a handle for the socket at sockpath; each call must finish
 * within timeout_ms (docker_stop: plus its grace). No I/O. Returns NULL on
 * ENOMEM; free it with docker_close(). */
struct docker *docker_open(const char *sockpath, int timeout_ms);

/* Closes the connection and frees d (NULL is fine). */
void docker_close(struct docker *d);

/* Changes the per-call timeout of d. */
void docker_set_timeout(struct docker *d, int timeout_ms);

/* Returns the last error text, including the daemon's message ("" if none).
 * Owned by d, valid until its next call. */
const char *docker_error(const struct docker *d);

/* Returns the HTTP status of the last call, 0 if no response was read. */
int docker_status(const struct docker *d);

/* GET /_ping, then GET /version; copies the engine version into version.
 * Returns 0 or -1. Blocks. */
int docker_ping(struct docker *d, char *version, size_t n);

/* Inspects a local image. Returns 1 if present, 0 if not (error text "image
 * X not found locally"), -1 on error. Blocks. */
int docker_image_exists(struct docker *d, const char *image);

/* Checks that the user-defined network name exists and, when prescal
 * itself runs in a container of this daemon (its id found in
 * /proc/self/mountinfo, else /.dockerenv and the hostname; a container the
 * daemon does not know is not checked), that this container is attached
 * to it. Returns 0, or -1 with the reason in docker_error(). Blocks. */
int docker_network_check(struct docker *d, const char *name);

/* Pulls image, reading the progress stream to its end (up to 10 minutes).
 * Returns 0, or -1 also when the stream reports an error. Blocks. */
int docker_image_pull(struct docker *d, const char *image);

/* Creates a container from s; its 64-hex id goes into id. Returns 0 or -1
 * (409 name in use, 404 no such image: see docker_status()). Never pulls.
 * Blocks. */
int docker_create(struct docker *d, const struct docker_spec *s, char id[65]);

/* Starts a container (id or name). Returns 0 (204, or 304 already
 * started) or -1. Blocks. */
int docker_start(struct docker *d, const char *id);

/* Inspects a container; port is the container port whose host port goes
 * into st->hostport. Returns 0 or -1 (docker_status() 404: no such
 * container). Blocks. */
int docker_inspect(struct docker *d, const char *id, int port, struct docker_state *st);

/* Lists all containers (running or not) of the set. Stores up to max in
 * out and their number in *n. Returns 0, 1 if there were more than max
 * (the rest is not stored), or -1. Blocks. */
int docker_list(struct docker *d, const char *set, int port, struct docker_ctr *out,
                size_t max, size_t *n);

/* Stops a container: SIGTERM, SIGKILL after grace_s seconds. Returns 0 (204,
 * or 304 already stopped) or -1. Blocks up to grace_s plus the timeout. */
int docker_stop(struct docker *d, const char *id, int grace_s);

/* Freezes a running container (cgroup freezer): memory stays, no CPU.
 * Returns 0 (204) or -1 (409: already paused or not running). Blocks. */
int docker_pause(struct docker *d, const char *id);

/* Thaws a paused container. Returns 0 (204) or -1 (Docker 20.10 answers
 * 500 "is not paused" for one that is not). Blocks. */
int docker_unpause(struct docker *d, const char *id);

/* Sends SIGKILL. Returns 0 (204) or -1 (409: not running). Blocks. */
int docker_kill(struct docker *d, const char *id);

/* Removes a container by force. Returns 0, also when it is already gone
 * (404) or its removal is in progress (409), or -1. Blocks. */
int docker_remove(struct docker *d, const char *id);

/* Reads the last tail lines of a container's stdout and stderr (GET
 * /containers/{id}/logs): parses the multiplexed stream (or a TTY's raw
 * one), keeps its last DOCKER_LOGMAX bytes, and writes them to out[0..n)
 * as printable lines ('\n' between them, no other control bytes). Returns
 * 0 or -1 (404: no such container). Blocks. */
int docker_logs(struct docker *d, const char *id, int tail, char *out, size_t n);

/* Subscribes to container events of the set (NULL: of every prescal-managed
 * container) on d's connection; d then
 * serves only docker_events_next() until another call closes the stream.
 * Returns 0 once the 200 head is read, or -1. Blocks. */
int docker_events_open(struct docker *d, const char *set);

/* As docker_events_open(), but the events of every Swarm service and node
 * (ev->type "service" or "node", ev->id theirs): no label can select
 * prescal's. Returns 0 or -1 (404 or 503 on a node that is no manager).
 * Blocks. */
int docker_swarm_events_open(struct docker *d);

/* Waits up to timeout_ms for the next event. Returns 1 with *ev filled,
 * 0 on time-out (the stream is still fine: the daemon sends no heartbeats),
 * -1 if the stream broke or ended. Blocks. */
int docker_events_next(struct docker *d, struct docker_event *ev, int timeout_ms);

/* the calls whose replies docker_parse_reply() reads */
enum docker_call {
	DOCKER_CALL_CREATE,       /* as docker_create(): rep->id */
	DOCKER_CALL_INSPECT,      /* as docker_inspect(): rep->st */
	DOCKER_CALL_LIST,         /* as docker_list(): rep->ctr, rep->nctr */
	DOCKER_CALL_PULL,         /* as docker_image_pull() */
	DOCKER_CALL_EVENTS,       /* as docker_events_open(), then docker_events_next() */
	DOCKER_CALL_LOGS,         /* as docker_logs(): rep->logs */
	NUM_DOCKER_CALL
};

struct docker_reply {
	enum docker_call call;    /* set by the caller */
	int port;                 /* set by the caller: container port (inspect, list) */
	struct docker_ctr *ctr;   /* set by the caller: room for max entries (list) */
	size_t max;
	char id[65];              /* create */
	struct docker_state st;   /* inspect */
	size_t nctr;              /* list */
	char logs[DOCKER_LOGMAX + 1]; /* logs */
};

/* Reads a recorded reply to rep->call from buf[0..n) instead of the
 * socket, in reads of at most step bytes (0: any), through the same
 * framing and JSON code as the call, and returns what the call would (its
 * error text in docker_error()). After DOCKER_CALL_EVENTS returned 0,
 * docker_events_next() reads on from buf, which must outlive it. No I/O:
 * for tests and fuzzing. */
int docker_parse_reply(struct docker *d, struct docker_reply *rep, const char *buf,
                       size_t n, size_t step);

/* Sends method target (a path with its query, e.g. DOCKER_API
 * "/services/ID") with the JSON body json (NULL: none) and reads the whole
 * reply, bounded by DOCKER_MAXBODY and the handle's timeout. Returns the
 * HTTP status, with the body in *body[0..*n) (NUL-terminated, owned by d,
 * valid until its next call) and, for a status >= 300, "<status>: <daemon
 * message>" in docker_error(); or -1 if no reply was read. Blocks. */
int docker_request(struct docker *d, const char *method, const char *target, const char *json,
                   const char **body, size_t *n);

/* As docker_request(), but reads a recorded reply from buf[0..n) in reads
 * of at most step bytes (0: any); *body is owned by d and valid until its
 * next call. No I/O: for tests and fuzzing. */
int docker_parse_raw(struct docker *d, const char *buf, size_t n, size_t step, const char **body,
                     size_t *blen);

/* Sets d's error text from a printf format and its status to 0, for
 * modules that build calls on docker_request(). Returns -1. No I/O. */
int docker_seterror(struct docker *d, const char *fmt, ...);
#endif
