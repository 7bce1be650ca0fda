// What a journal in front of SQLite would give a lone submission (docs/PERFORMANCE.md, "Measured,
// not built: a journal in front of SQLite"). A REQ client and a ROUTER server in two processes over
// loopback TCP, one 261-byte request at a time (the benchmark's low load); the server answers each:
//   echo     at once (the benchmark's raw round trip);
//   sqlite   after committing it as one row in its own transaction (WAL, synchronous=FULL: the
//            benchmark's committing echo);
//   journal  after one 4 KiB O_DSYNC pwrite to a preallocated journal file, then inserts it into
//            SQLite (WAL, synchronous=OFF) after the reply;
//   direct   the same with O_DIRECT.
// Each round first times 1,500 one-row transactions alone (the benchmark's "one fsync"). Not a
// recovery-safe journal: it measures the latency a durable write of that shape costs here.
//
//   gcc -O2 -o /tmp/probe-journal scripts/probe-journal.c -lzmq -lsqlite3
//   mkdir -p /tmp/pj && /tmp/probe-journal /tmp/pj 5 sqlite,journal 2000   # directory, rounds, modes, requests
#define _GNU_SOURCE
#include <zmq.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static double now_us(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
static sqlite3 *open_db(const char *path, const char *sync) {
    char p[512]; sqlite3 *db;
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) { snprintf(p, sizeof p, "%s%s", path, suffixes[i]); unlink(p); }
    sqlite3_open(path, &db);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL", 0, 0, 0);
    char q[64]; snprintf(q, sizeof q, "PRAGMA synchronous=%s", sync); sqlite3_exec(db, q, 0, 0, 0);
    sqlite3_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)", 0, 0, 0);
    return db;
}
static void insert(sqlite3 *db, sqlite3_stmt *st, const void *b, int n) {
    sqlite3_exec(db, "BEGIN", 0, 0, 0);
    sqlite3_bind_blob(st, 1, b, n, SQLITE_STATIC); sqlite3_step(st); sqlite3_reset(st);
    sqlite3_exec(db, "COMMIT", 0, 0, 0);
}
// Binds an ephemeral port of 127.0.0.1 and writes its endpoint to `ready` (then closes it).
static void server(const char *mode, const char *dir, int ready) {
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_ROUTER);
    if (zmq_bind(s, "tcp://127.0.0.1:*") != 0) { perror("zmq_bind"); _exit(1); }
    char path[512]; snprintf(path, sizeof path, "%s/server.sqlite", dir);
    int direct = strcmp(mode, "direct") == 0, journal = strcmp(mode, "journal") == 0 || direct, commit = strcmp(mode, "sqlite") == 0;
    sqlite3 *db = (journal || commit) ? open_db(path, journal ? "OFF" : "FULL") : NULL;
    sqlite3_stmt *st = NULL; if (db) sqlite3_prepare_v2(db, "INSERT INTO t(b) VALUES(?)", -1, &st, 0);
    // A WAL past its first 1,000 frames, as a running service's: commits overwrite frames already
    // allocated instead of growing the file (WARM=0 leaves it fresh).
    if (db && !(getenv("WARM") && atoi(getenv("WARM")) == 0)) { char row[261] = {0}; for (int i = 0; i < 1200; i++) insert(db, st, row, sizeof row); }
    int jfd = -1; void *block = NULL;
    if (journal) {
        snprintf(path, sizeof path, "%s/journal", dir);
        jfd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        char *z = calloc(1, 1 << 22);
        if (jfd < 0 || !z || pwrite(jfd, z, 1 << 22, 0) != 1 << 22 || fsync(jfd) != 0) { perror("preallocating the journal"); _exit(1); }
        close(jfd); free(z);
        // O_DIRECT is refused by some file systems (tmpfs): said so, not measured as something else.
        jfd = open(path, O_RDWR | O_DSYNC | (direct ? O_DIRECT : 0));
        if (jfd < 0 || posix_memalign(&block, 4096, 4096) != 0) { perror("opening the journal"); _exit(1); }
        memset(block, 0, 4096);
    }
    char endpoint[256]; size_t size = sizeof endpoint;
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, endpoint, &size);
    if (write(ready, endpoint, strlen(endpoint)) < 0) _exit(1);
    close(ready);
    long n = 0;
    for (;;) {
        zmq_msg_t id, empty, body; zmq_msg_init(&id); zmq_msg_init(&empty); zmq_msg_init(&body);
        zmq_msg_recv(&id, s, 0); zmq_msg_recv(&empty, s, 0); zmq_msg_recv(&body, s, 0);
        int len = zmq_msg_size(&body) > 4096 ? 4096 : (int)zmq_msg_size(&body);
        if (len == 4 && memcmp(zmq_msg_data(&body), "stop", 4) == 0) break;
        if (commit) insert(db, st, zmq_msg_data(&body), len);
        if (journal) {
            memcpy(block, zmq_msg_data(&body), len);
            if (pwrite(jfd, block, 4096, (n % 1024) * 4096) != 4096) { perror("writing the journal"); _exit(1); }
        }
        // keep a copy for the insert after the reply
        char copy[4096]; memcpy(copy, zmq_msg_data(&body), len);
        zmq_msg_send(&id, s, ZMQ_SNDMORE); zmq_msg_send(&empty, s, ZMQ_SNDMORE); zmq_msg_send(&body, s, 0);
        if (journal) insert(db, st, copy, len);
        n++;
    }
    zmq_close(s); zmq_ctx_term(ctx);
    if (db) { sqlite3_finalize(st); sqlite3_close(db); }
}
static double client(const char *endpoint, int count, double *p99) {
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_REQ);
    int timeout = 5000, linger = 5000;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(s, endpoint);
    char msg[261]; memset(msg, 'x', sizeof msg); char buf[512];
    double *t = malloc(sizeof(double) * count);
    for (int i = 0; i < 200 + count; i++) {
        double a = now_us(); zmq_send(s, msg, sizeof msg, 0);
        if (zmq_recv(s, buf, sizeof buf, 0) < 0) { fprintf(stderr, "no answer from %s within 5 s\n", endpoint); exit(1); }
        if (i >= 200) t[i - 200] = now_us() - a;
    }
    zmq_send(s, "stop", 4, 0);   // delivered before the close returns (the linger), then the server ends
    zmq_close(s); zmq_ctx_term(ctx);
    qsort(t, count, sizeof(double), cmp);
    double p50 = t[count / 2]; *p99 = t[count * 99 / 100]; free(t); return p50;
}
static double one_row(const char *dir, int count) {
    char path[512]; snprintf(path, sizeof path, "%s/raw.sqlite", dir);
    sqlite3 *db = open_db(path, "FULL"); sqlite3_stmt *st; sqlite3_prepare_v2(db, "INSERT INTO t(b) VALUES(?)", -1, &st, 0);
    char row[261]; memset(row, 'x', sizeof row);
    double a = now_us();
    for (int i = 0; i < count; i++) insert(db, st, row, sizeof row);
    double per = (now_us() - a) / count;
    sqlite3_finalize(st); sqlite3_close(db); return per;
}
int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp/jprobe/d";
    int rounds = argc > 2 ? atoi(argv[2]) : 3, count = argc > 4 ? atoi(argv[4]) : 2000;
    const char *list = argc > 3 ? argv[3] : "echo,sqlite,journal,direct";
    char buf[256]; snprintf(buf, sizeof buf, "%s", list);
    const char *modes[16]; int nmodes = 0;
    for (char *t = strtok(buf, ","); t && nmodes < 16; t = strtok(NULL, ",")) modes[nmodes++] = t;
    for (int r = 0; r < rounds; r++) {
        double fsync_us = one_row(dir, 1500);
        printf("round %d: one-row transaction %.0f µs (mean of 1500)", r + 1, fsync_us);
        for (int m = 0; m < nmodes; m++) {
            int ready[2]; if (pipe(ready) != 0) { perror("pipe"); return 1; }
            sync();
            pid_t pid = fork();
            // The server ends with this process, however it ends (a timeout's kill included).
            if (pid == 0) { prctl(PR_SET_PDEATHSIG, SIGKILL); close(ready[0]); server(modes[m], dir, ready[1]); _exit(0); }
            close(ready[1]);
            char ep[256] = {0}; ssize_t got = read(ready[0], ep, sizeof ep - 1); close(ready[0]);
            if (got <= 0) { fprintf(stderr, "the %s server did not start\n", modes[m]); return 1; }
            double p99, p50 = client(ep, count, &p99);
            waitpid(pid, NULL, 0);
            printf("; %s p50 %.0f p99 %.0f", modes[m], p50, p99);
        }
        printf("\n"); fflush(stdout);
    }
    return 0;
}
