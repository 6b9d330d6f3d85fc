/* See LICENSE file for copyright and license details. */
/* tests/tdocker.h: Docker helpers shared by the integration tests that
 * drive a live daemon (through its socket and the docker CLI). */

#define NCTR 16                   /* containers listed per set */

struct ctr {
	char id[80];
	char name[96];
	char state[32];
};

/* Returns 1 if $PRESCAL_REQUIRE_DOCKER is "1": then no Docker test may
 * skip. */
int docker_required(void);

/* Leaves the current cmocka test for a Docker-related reason why: skipped
 * loudly, or failed when docker_required(). */
#define DOCKER_SKIP(why) do { \
	if (docker_required()) \
		fail_msg("%s, and PRESCAL_REQUIRE_DOCKER=1", (why)); \
	fprintf(stderr, "\n*** SKIPPED: %s ***\n\n", (why)); \
	skip(); \
} while (0)

/* Returns the daemon's socket: $DOCKER_HOST if unix://, else the default. */
const char *docker_sock(void);

/* GET /_ping on the daemon's socket. Returns 0 if it answers 200. */
int docker_ping(void);

/* Runs a shell command quietly. Returns its exit status or -1. */
int sh(const char *fmt, ...);

/* Runs a command and reads its first output line into out; 0, or -1 if none. */
int sh_line(char *out, size_t n, const char *fmt, ...);

/* Lists the containers labelled prescal.name=set (all states) into c.
 * Returns their number or -1. */
int dk_list(const char *set, struct ctr *c, int max);

/* Returns how many containers of set are in state (NULL: any), or -1. */
int dk_count(const char *set, const char *state);

/* Removes every container of set (docker rm -f, a few rounds in case one
 * was being created). Blocks. */
void dk_rmset(const char *set);

/* Waits until set has exactly want containers in state (NULL: any).
 * Returns 0, or -1 at the time-out. */
int dk_wait_count(const char *set, const char *state, int want, int timeout_ms);

/* Writes set's containers, sorted by name, as "id12=name/state ..." into
 * out[0..sz). Returns out. */
char *dk_ids(const char *set, char *out, size_t sz);
