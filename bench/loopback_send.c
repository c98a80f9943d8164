// bench/loopback_send.c: what it costs a sender to push 1 MiB bodies over loopback TCP, by how
// the body is handed to the kernel. One connection on 127.0.0.1; the sender pinned to CPU 0, a
// reader (read() into a buffer of RBUF bytes, as wrk does with 8 KiB) on CPU 1. Prints the
// sender thread's CPU time per MiB (getrusage RUSAGE_THREAD) and the wall time per MiB.
//   cc -O2 -pthread -o /tmp/loopback_send bench/loopback_send.c
//   /tmp/loopback_send write 3000        # write() from a buffer (what the edge's writev does)
//   /tmp/loopback_send sendfile 3000     # sendfile() from a memfd (tmpfs pages)
//   /tmp/loopback_send vmsplice 3000     # vmsplice() the pages into a pipe, splice() to the socket
//   /tmp/loopback_send write 3000 8192 2097152   # RBUF, then SO_SNDBUF
// Port 19150 on 127.0.0.1; bounded by the count given (MiB).
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#define MB (1 << 20)
static int port = 19150;  // on 127.0.0.1
static long total;
static int rbuf = 8192;
static void pin(int c) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(c, &s);
    sched_setaffinity(0, sizeof s, &s);
}
static void* reader(void* a) {
    (void)a;
    pin(1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001)};
    while (connect(fd, (void*)&sa, sizeof sa))
        usleep(1000);
    char* b = malloc(rbuf);
    long got = 0;
    while (got < total) {
        ssize_t n = read(fd, b, rbuf);
        if (n <= 0) break;
        got += n;
    }
    close(fd);
    return 0;
}
int main(int argc, char** argv) {
    const char* mode = argv[1];
    int n = atoi(argv[2]);
    rbuf = argc > 3 ? atoi(argv[3]) : 8192;
    int sndbuf = argc > 4 ? atoi(argv[4]) : 0;
    total = (long)n * MB;
    pin(0);
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, 4);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001)};
    bind(ls, (void*)&sa, sizeof sa);
    listen(ls, 1);
    pthread_t t;
    pthread_create(&t, 0, reader, 0);
    int fd = accept(ls, 0, 0);
    if (sndbuf) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, 4);
    char* body = malloc(MB);
    memset(body, 'x', MB);
    int mfd = memfd_create("b", 0);
    ftruncate(mfd, MB);
    char* m = mmap(0, MB, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    memset(m, 'y', MB);
    int p[2];
    pipe(p);
    fcntl(p[1], F_SETPIPE_SZ, MB);
    struct rusage r0, r1;
    getrusage(RUSAGE_THREAD, &r0);
    struct timespec w0, w1;
    clock_gettime(CLOCK_MONOTONIC, &w0);
    for (int i = 0; i < n; i++) {
        if (!strcmp(mode, "write")) {
            long off = 0;
            while (off < MB) {
                ssize_t k = write(fd, body + off, MB - off);
                if (k <= 0) {
                    perror("w");
                    return 1;
                }
                off += k;
            }
        } else if (!strcmp(mode, "sendfile")) {
            off_t off = 0;
            while (off < MB) {
                ssize_t k = sendfile(fd, mfd, &off, MB - off);
                if (k <= 0) {
                    perror("s");
                    return 1;
                }
            }
        } else if (!strcmp(mode, "vmsplice")) {
            long off = 0;
            while (off < MB) {
                struct iovec v = {m + off, MB - off};
                ssize_t k = vmsplice(p[1], &v, 1, 0);
                if (k <= 0) {
                    perror("v");
                    return 1;
                }
                long left = k;
                while (left) {
                    ssize_t s = splice(p[0], 0, fd, 0, left, SPLICE_F_MORE);
                    if (s <= 0) {
                        perror("sp");
                        return 1;
                    }
                    left -= s;
                }
                off += k;
            }
        }
    }
    getrusage(RUSAGE_THREAD, &r1);
    clock_gettime(CLOCK_MONOTONIC, &w1);
    pthread_join(t, 0);
    double us = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1e6 +
                (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec),
           ss = (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e6 +
                (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
    double wall = (w1.tv_sec - w0.tv_sec) * 1e6 + (w1.tv_nsec - w0.tv_nsec) / 1e3;
    printf(
        "%-9s rbuf %7d sndbuf %7d: sender cpu/MiB %.1f us (user %.1f sys %.1f) wall/MiB %.1f us\n",
        mode, rbuf, sndbuf, (us + ss) / n, us / n, ss / n, wall / n);
    return 0;
}
