/*
 * mvm-tapfd: attaches to the agent's persistent taps and execs a command that inherits them.
 *
 *   mvm-tapfd [--transient] <ifname> <fd> [[--transient] <ifname> <fd> ...] -- <command> [<arg> ...]
 *
 * For each pair: opens /dev/net/tun, attaches it to the existing tap <ifname> with TUNSETIFF
 * (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, the flags QEMU itself asks for when it opens a tap by
 * name), and moves the descriptor to <fd>, inheritable (no close-on-exec). Then execvp's the
 * command in place (same pid). QEMU then takes the tap as `-netdev tap,fd=<fd>` and needs no
 * CAP_NET_ADMIN: attaching is the only tap operation that asks for it.
 *
 * A tap that does not exist is an error, not created: TUNSETIFF would make a new, transient
 * one on no bridge. The name is checked first, and the attached device must be persistent
 * (the network driver creates every tap with `ip tuntap add`), which also closes the race.
 * `--transient` before a pair allows exactly that, for an agent without tenant networking
 * (no driver made the tap; the guest's NIC leads nowhere, and the tap goes with the VMM).
 *
 * Every failure exits 1 with one line on stderr naming the step, the tap and errno; the agent
 * reads it from the VMM's log and reports it as the instance's failure reason.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h> /* before linux/if_tun.h: glibc's struct ifreq, not the kernel's */
#include <linux/if_tun.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MAX_TAPS 8
#define MAX_FD 1023

struct tap {
    const char *ifname;
    int fd;
    int transient;
};

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("mvm-tapfd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void fail_errno(const char *step, const char *ifname, int err) {
    fail("%s for tap '%s' failed: %s (errno %d)", step, ifname, strerror(err), err);
}

static void usage(const char *why) {
    fail("%s; usage: mvm-tapfd [--transient] <ifname> <fd> [...] -- <command> [<arg> ...]", why);
}

/* Interface names as the kernel takes them, and as mvm makes them: 1-15 of [A-Za-z0-9._-]. */
static int valid_ifname(const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len >= IFNAMSIZ) return 0;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok) return 0;
    }
    return 1;
}

/* A descriptor number above stdio: 3..MAX_FD, decimal, nothing else. */
static int parse_fd(const char *text) {
    if (*text == '\0' || strlen(text) > 4) return -1;
    int value = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        value = value * 10 + (*p - '0');
    }
    return value >= 3 && value <= MAX_FD ? value : -1;
}

static int parse_args(int argc, char **argv, struct tap *taps, int *count) {
    int i = 1;
    *count = 0;
    while (i < argc && strcmp(argv[i], "--") != 0) {
        int transient = strcmp(argv[i], "--transient") == 0;
        i += transient;
        if (i >= argc || strcmp(argv[i], "--") == 0) usage("--transient without a tap");
        if (i + 1 >= argc || strcmp(argv[i + 1], "--") == 0) usage("a tap name without a descriptor number");
        if (*count == MAX_TAPS) usage("too many taps (at most 8)");
        if (!valid_ifname(argv[i])) fail("invalid tap name '%s': 1 to 15 of A-Z a-z 0-9 . _ -", argv[i]);
        int fd = parse_fd(argv[i + 1]);
        if (fd < 0) fail("invalid descriptor number '%s' for tap '%s': 3 to %d", argv[i + 1], argv[i], MAX_FD);
        for (int k = 0; k < *count; k++) {
            if (taps[k].fd == fd) fail("descriptor %d is given twice", fd);
        }
        taps[*count].ifname = argv[i];
        taps[*count].fd = fd;
        taps[*count].transient = transient;
        (*count)++;
        i += 2;
    }
    if (*count == 0) usage("no tap given");
    if (i >= argc) usage("no '--' before the command");
    if (i + 1 >= argc) usage("no command after '--'");
    return i + 1;
}

/* Attaches to the tap (existing and persistent unless transient); a close-on-exec descriptor. */
static int attach(const char *ifname, int transient) {
    if (!transient && if_nametoindex(ifname) == 0) {
        int err = errno;
        fail("no tap '%s' in this network namespace (%s, errno %d); the agent's network driver creates it before the VM starts",
             ifname, strerror(err), err);
    }
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) fail_errno("open /dev/net/tun", ifname, errno);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) fail_errno("TUNSETIFF (attach)", ifname, errno);
    if (transient) return fd;
    memset(&ifr, 0, sizeof ifr);
    if (ioctl(fd, TUNGETIFF, &ifr) < 0) fail_errno("TUNGETIFF", ifname, errno);
    if (!(ifr.ifr_flags & IFF_PERSIST)) {
        close(fd); /* destroys the transient tap TUNSETIFF just made */
        fail("tap '%s' vanished before it could be attached; the agent's network driver creates it before the VM starts", ifname);
    }
    return fd;
}

int main(int argc, char **argv) {
    struct tap taps[MAX_TAPS];
    int count = 0;
    int command = parse_args(argc, argv, taps, &count);
    /* Opened close-on-exec first, moved after: a fresh descriptor never lands on a target. */
    int opened[MAX_TAPS];
    for (int k = 0; k < count; k++) opened[k] = attach(taps[k].ifname, taps[k].transient);
    for (int k = 0; k < count; k++) {
        for (int j = k + 1; j < count; j++) {
            if (opened[j] == taps[k].fd) {
                int moved = fcntl(opened[j], F_DUPFD_CLOEXEC, MAX_FD + 1);
                if (moved < 0) fail_errno("fcntl F_DUPFD_CLOEXEC", taps[j].ifname, errno);
                close(opened[j]);
                opened[j] = moved;
            }
        }
        if (opened[k] == taps[k].fd) {
            if (fcntl(opened[k], F_SETFD, 0) < 0) fail_errno("fcntl F_SETFD", taps[k].ifname, errno);
        } else {
            if (dup2(opened[k], taps[k].fd) < 0) fail_errno("dup2", taps[k].ifname, errno);
            close(opened[k]);
        }
    }
    execvp(argv[command], &argv[command]);
    int err = errno;
    fail("exec '%s' failed: %s (errno %d)", argv[command], strerror(err), err);
}
