/* Actions busybox cannot perform, for the attack-simulation suite (exporter/tests/attacks.rs).
 * Built static at test time (common/attack.rs) and copied into the container rootfs as
 * /bin/tw-helper. Run under another name (a link called socat, say) it only sleeps, so the
 * exec of that name stays visible in /proc while the exporter looks it up, unless its first
 * argument is one of the modes marked "under any name".
 *
 *   tw-helper sleep MS          sleep MS milliseconds
 *   tw-helper memfd             copy itself into a memfd and execveat it (AT_EMPTY_PATH): fileless
 *   tw-helper exec-disk         execve itself from /bin/tw-helper (the benign twin of memfd)
 *   tw-helper setuid UID        setuid(UID) with the raw syscall; exit 1 if it failed
 *   tw-helper ptrace-attach     PTRACE_ATTACH to a child, wait for the stop, detach
 *   tw-helper ptrace-traceme    a child asks to be traced (PTRACE_TRACEME, anti-debugging)
 *   tw-helper ptrace-peek       PTRACE_PEEKDATA of a child it does not trace: fails with ESRCH, a
 *                               debugger's probe that neither attaches nor writes
 *   tw-helper socket FAMILY     open a socket: packet (AF_PACKET, SOCK_RAW: a sniffer), inet
 *                               (AF_INET, SOCK_DGRAM)
 *   tw-helper dup-socket KIND   dup2 a socket onto stdout, as a reverse shell does: tcp (the
 *                               accepted end of a loopback connection), unix (a socketpair)
 *   tw-helper chmod-flood PATH SECONDS  chmod PATH (0600 and 0644 in turn) as fast as it can for
 *                               SECONDS, then print the count: a relative PATH gives a flood of
 *                               events the kernel cannot settle alone
 *   tw-helper init-module FILE  init_module(2) with FILE's bytes; the result is printed, not
 *                               judged (a kernel without module support answers ENOSYS)
 *   ssh -p PORT HOST            (the helper under the name ssh) a TCP connection to HOST:PORT
 *   NAME spawn PROG ARG...      (under any name) run PROG in a child and wait for it: a server
 *                               (the helper linked as httpd) starting a program
 *   NAME read-when FILE PATH    (under any name) once FILE exists (polled every 10 ms), read PATH,
 *                               remove FILE (the request is served), then keep running 3 s: a
 *                               server that reads a file on request
 *   tw-helper gate FIFO PROG ARG...  read a line from FIFO, then exec PROG ARG...: the test writes
 *                               the line when it starts its clock, so all of the action (the shell
 *                               too) happens after that
 * Every failure exits non-zero with a message, so a test can tell "action failed" from
 * "not detected". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void nap(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

static int fail(const char *what) {
    fprintf(stderr, "tw-helper: %s: %s\n", what, strerror(errno));
    return 1;
}

static int memfd_exec(void) {
    int fd = (int)syscall(SYS_memfd_create, "payload", 0);
    if (fd < 0) return fail("memfd_create");
    int self = open("/proc/self/exe", O_RDONLY);
    if (self < 0) return fail("open /proc/self/exe");
    char buf[65536];
    ssize_t n;
    while ((n = read(self, buf, sizeof buf)) > 0) {
        if (write(fd, buf, (size_t)n) != n) return fail("write memfd");
    }
    if (n < 0) return fail("read self");
    close(self);
    /* argv[0] "tw-helper" so the payload runs its sleep mode and stays in /proc a while. */
    char *argv[] = { "tw-helper", "sleep", "1500", NULL };
    syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
    return fail("execveat memfd");
}

/* A child that only sleeps: the target of the ptrace actions. */
static pid_t sleeping_child(void) {
    pid_t child = fork();
    if (child == 0) {
        nap(3000);
        _exit(0);
    }
    if (child < 0) fail("fork");
    return child;
}

static int ptrace_attach(void) {
    pid_t child = sleeping_child();
    if (child < 0) return 1;
    if (ptrace(PTRACE_ATTACH, child, NULL, NULL) != 0) return fail("PTRACE_ATTACH");
    int status;
    if (waitpid(child, &status, 0) != child) return fail("waitpid");
    if (ptrace(PTRACE_DETACH, child, NULL, NULL) != 0) return fail("PTRACE_DETACH");
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    return 0;
}

static int ptrace_traceme(void) {
    pid_t child = fork();
    if (child < 0) return fail("fork");
    if (child == 0) {
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) _exit(2);
        _exit(0);
    }
    int status;
    if (waitpid(child, &status, 0) != child) return fail("waitpid");
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static int ptrace_peek(void) {
    pid_t child = sleeping_child();
    if (child < 0) return 1;
    errno = 0;
    long word = ptrace(PTRACE_PEEKDATA, child, NULL, NULL);
    int ok = word == -1 && errno == ESRCH;
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    if (!ok) return fail("PTRACE_PEEKDATA of an untraced child did not fail with ESRCH");
    return 0;
}

static int open_socket(const char *family) {
    int fd;
    if (strcmp(family, "packet") == 0) fd = socket(AF_PACKET, SOCK_RAW, htons(0x0003 /* ETH_P_ALL */));
    else if (strcmp(family, "inet") == 0) fd = socket(AF_INET, SOCK_DGRAM, 0);
    else return fail("unknown socket family");
    if (fd < 0) return fail("socket");
    close(fd);
    return 0;
}

/* A loopback listener, a connection to it, and the accepted end: a real TCP peer inside the
 * container's own network. */
static int accepted_tcp(void) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) return fail("socket");
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (bind(listener, (struct sockaddr *)&a, sizeof a) != 0 || listen(listener, 1) != 0 ||
        getsockname(listener, (struct sockaddr *)&a, &len) != 0)
        return fail("listen on loopback");
    int client = socket(AF_INET, SOCK_STREAM, 0);
    if (client < 0 || connect(client, (struct sockaddr *)&a, sizeof a) != 0) return fail("connect");
    int server = accept(listener, NULL, NULL);
    if (server < 0) return fail("accept");
    return server;
}

static int dup_socket(const char *kind) {
    int sock;
    if (strcmp(kind, "tcp") == 0) {
        sock = accepted_tcp();
        if (sock < 0) return 1;
    } else if (strcmp(kind, "unix") == 0) {
        int pair[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) return fail("socketpair");
        sock = pair[0];
    } else {
        return fail("unknown socket kind");
    }
    /* stdout goes on to the socket: keep a copy to report on. */
    int saved = dup(1);
    if (saved < 0 || dup2(sock, 1) != 1) return fail("dup2");
    if (dup2(saved, 1) != 1) return fail("restore stdout");
    return 0;
}

static int init_module_file(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return fail("open module");
    char image[4096];
    ssize_t n = read(fd, image, sizeof image);
    if (n < 0) return fail("read module");
    close(fd);
    long res = syscall(SYS_init_module, image, (unsigned long)n, "");
    printf("init_module: %ld (%s)\n", res, res == 0 ? "loaded" : strerror(errno));
    return 0;
}

/* `ssh -p PORT HOST`: only the connection an ssh client makes. */
static int ssh_connect(int argc, char **argv) {
    if (argc != 4 || strcmp(argv[1], "-p") != 0) {
        fprintf(stderr, "usage: ssh -p PORT HOST\n");
        return 2;
    }
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2])) };
    if (inet_pton(AF_INET, argv[3], &a.sin_addr) != 1) return fail("address");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return fail("connect");
    close(fd);
    return 0;
}

static int spawn(char **args) {
    pid_t child = fork();
    if (child < 0) return fail("fork");
    if (child == 0) {
        execv(args[0], args);
        _exit(127);
    }
    int status;
    if (waitpid(child, &status, 0) != child) return fail("waitpid");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static int read_when(const char *trigger, const char *path) {
    while (access(trigger, F_OK) != 0) nap(10);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return fail("open");
    char buf[256];
    if (read(fd, buf, sizeof buf) < 0) return fail("read");
    close(fd);
    if (unlink(trigger) != 0) return fail("unlink the request");
    nap(3000);
    return 0;
}

static int gate(const char *fifo, char **args) {
    int fd = open(fifo, O_RDONLY);
    if (fd < 0) return fail("open gate");
    char c;
    ssize_t n;
    while ((n = read(fd, &c, 1)) == 1 && c != '\n') {}
    if (n < 0) return fail("read gate");
    close(fd);
    execv(args[0], args);
    return fail("exec after the gate");
}

static int chmod_flood(const char *path, long seconds) {
    time_t end = time(NULL) + seconds;
    unsigned long n = 0;
    while (time(NULL) < end) {
        for (int i = 0; i < 1000; i++, n++) {
            if (chmod(path, n & 1 ? 0644 : 0600) != 0) return fail("chmod");
        }
    }
    printf("%lu chmods\n", n);
    return 0;
}

int main(int argc, char **argv) {
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (strcmp(base, "ssh") == 0) return ssh_connect(argc, argv);
    /* These run under any name: the name is what the rule looks at. */
    if (argc >= 3 && strcmp(argv[1], "spawn") == 0) return spawn(argv + 2);
    if (argc >= 4 && strcmp(argv[1], "read-when") == 0) return read_when(argv[2], argv[3]);
    if (strcmp(base, "tw-helper") != 0) {
        nap(1500);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "sleep") == 0) {
        nap(atol(argv[2]));
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "memfd") == 0) return memfd_exec();
    if (argc >= 2 && strcmp(argv[1], "exec-disk") == 0) {
        char *args[] = { "tw-helper", "sleep", "1500", NULL };
        execve("/bin/tw-helper", args, environ);
        return fail("execve /bin/tw-helper");
    }
    if (argc >= 3 && strcmp(argv[1], "setuid") == 0) {
        if (syscall(SYS_setuid, (uid_t)atol(argv[2])) != 0) return fail("setuid");
        nap(300);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "ptrace-attach") == 0) return ptrace_attach();
    if (argc >= 2 && strcmp(argv[1], "ptrace-traceme") == 0) return ptrace_traceme();
    if (argc >= 2 && strcmp(argv[1], "ptrace-peek") == 0) return ptrace_peek();
    if (argc >= 3 && strcmp(argv[1], "socket") == 0) return open_socket(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "dup-socket") == 0) return dup_socket(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "chmod-flood") == 0) return chmod_flood(argv[2], atol(argv[3]));
    if (argc >= 3 && strcmp(argv[1], "init-module") == 0) return init_module_file(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "gate") == 0) return gate(argv[2], argv + 3);
    fprintf(stderr, "tw-helper: unknown mode\n");
    return 2;
}
