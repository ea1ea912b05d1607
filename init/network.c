/* SPDX-License-Identifier: MIT */
/* ip= parsing and static IPv4 configuration over rtnetlink (network.h; rtnetlink(7), netlink(7)). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "network.h"

#define IP_FIELDS 10U
#define IP_FIELD_MAX 64U
#define NL_TIMEOUT_MS 5000
#define NL_BUF 1024U

enum { F_CLIENT, F_SERVER, F_GATEWAY, F_NETMASK, F_HOSTNAME, F_DEVICE, F_AUTOCONF, F_DNS0, F_DNS1, F_NTP0 };
static const char *const field_names[IP_FIELDS] = {
        "client-ip", "server-ip", "gw-ip", "netmask", "hostname", "device", "autoconf", "dns0-ip", "dns1-ip", "ntp0-ip",
};

static int field_error(errbuf *err, unsigned f, const char *value, const char *why) {
        _cleanup_free_ char *e = escape_untrusted(value, strlen(value), 64);
        return errbuf_set(err, -EINVAL, "ip=: field %u (%s) '%s': %s", f + 1, field_names[f], e ? e : "?", why);
}

static int parse_addr(const char *s, unsigned f, struct in_addr *ret, errbuf *err) {
        if (inet_pton(AF_INET, s, ret) != 1)
                return field_error(err, f, s, "not an IPv4 address (a.b.c.d)");
        return 0;
}

static int parse_netmask(const char *s, struct ip_config *c, errbuf *err) {
        uint32_t m, first;

        if (!s[0]) {
                /* The kernel's default: the class of the address (A /8, B /16, C /24). */
                first = ntohl(c->client.s_addr) >> 24;
                c->prefixlen = first < 128 ? 8 : first < 192 ? 16 : first < 224 ? 24 : 0;
                if (c->prefixlen == 0)
                        return field_error(err, F_NETMASK, s, "needed: the client address has no class default");
        } else {
                if (parse_addr(s, F_NETMASK, &c->netmask, err) < 0)
                        return -EINVAL;
                m = ntohl(c->netmask.s_addr);
                if (m == 0 || (~m & (~m + 1)) != 0)
                        return field_error(err, F_NETMASK, s, "not a contiguous netmask (e.g. 255.255.255.0)");
                c->prefixlen = (unsigned) __builtin_popcount(m);
        }
        c->netmask.s_addr = htonl(c->prefixlen == 32 ? 0xffffffffU : ~(0xffffffffU >> c->prefixlen));
        return 0;
}

static int parse_client(const char *s, struct ip_config *c, errbuf *err) {
        uint32_t a;

        if (!s[0])
                return field_error(err, F_CLIENT, s, "required (static configuration only)");
        if (parse_addr(s, F_CLIENT, &c->client, err) < 0)
                return -EINVAL;
        a = ntohl(c->client.s_addr);
        if (a == 0 || a == 0xffffffffU || (a >> 28) >= 14 || (a >> 24) == 127)
                return field_error(err, F_CLIENT, s, "not a usable host address");
        return 0;
}

static int parse_gateway(const char *s, struct ip_config *c, errbuf *err) {
        if (!s[0])
                return 0;
        if (parse_addr(s, F_GATEWAY, &c->gateway, err) < 0)
                return -EINVAL;
        if (((c->gateway.s_addr ^ c->client.s_addr) & c->netmask.s_addr) != 0 ||
            c->gateway.s_addr == c->client.s_addr)
                return field_error(err, F_GATEWAY, s, "not another address in the client's subnet");
        return 0;
}

static bool hostname_valid(const char *s) {
        size_t n = strlen(s);
        return n <= IP_HOSTNAME_MAX && s[0] != '-' && s[0] != '.' &&
               strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == n;
}

static bool device_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n >= IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '/' || s[i] == ':')
                        return false;
        return true;
}

static int parse_fields(char f[IP_FIELDS][IP_FIELD_MAX + 1], struct ip_config *c, errbuf *err) {
        int r;

        if ((r = parse_client(f[F_CLIENT], c, err)) < 0 || (r = parse_netmask(f[F_NETMASK], c, err)) < 0 ||
            (r = parse_gateway(f[F_GATEWAY], c, err)) < 0)
                return r;
        if (f[F_SERVER][0] && parse_addr(f[F_SERVER], F_SERVER, &(struct in_addr) {}, err) < 0)
                return -EINVAL;
        if (!hostname_valid(f[F_HOSTNAME]))
                return field_error(err, F_HOSTNAME, f[F_HOSTNAME], "not a host name (A-Z a-z 0-9 - .)");
        snprintf(c->hostname, sizeof(c->hostname), "%s", f[F_HOSTNAME]);
        if (!f[F_DEVICE][0])
                return field_error(err, F_DEVICE, f[F_DEVICE], "required (the interface, e.g. eth0)");
        if (!device_valid(f[F_DEVICE]))
                return field_error(err, F_DEVICE, f[F_DEVICE], "not an interface name");
        snprintf(c->device, sizeof(c->device), "%s", f[F_DEVICE]);
        if (f[F_AUTOCONF][0] && strcmp(f[F_AUTOCONF], "off") != 0 && strcmp(f[F_AUTOCONF], "none") != 0 &&
            strcmp(f[F_AUTOCONF], "static") != 0)
                return field_error(err, F_AUTOCONF, f[F_AUTOCONF], "only static configuration is supported (off)");
        for (unsigned i = F_DNS0; i <= F_DNS1; i++)
                if (f[i][0] && parse_addr(f[i], i, &c->dns[c->n_dns++], err) < 0)
                        return -EINVAL;
        if (f[F_NTP0][0] && parse_addr(f[F_NTP0], F_NTP0, &(struct in_addr) {}, err) < 0)
                return -EINVAL;
        c->enabled = true;
        return 0;
}

int ip_config_parse(const char *s, struct ip_config *ret, errbuf *err) {
        static const char *const automatic[] = { "on", "any", "dhcp", "bootp", "rarp", "both", "dhcp6", "auto6" };
        char f[IP_FIELDS][IP_FIELD_MAX + 1] = {};
        unsigned k = 0;

        *ret = (struct ip_config) {};
        if (!s || !s[0] || strcmp(s, "off") == 0 || strcmp(s, "none") == 0)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(automatic); i++)
                if (strcmp(s, automatic[i]) == 0)
                        return errbuf_set(err, -EOPNOTSUPP, "ip=%s: automatic configuration is not supported; "
                                          "give a static one (ip=ADDRESS::GATEWAY:NETMASK::DEVICE:off)", s);
        for (const char *p = s;; k++) {
                size_t n = strcspn(p, ":");
                if (k >= IP_FIELDS)
                        return errbuf_set(err, -EINVAL, "ip=: more than %u fields", IP_FIELDS);
                if (n > IP_FIELD_MAX)
                        return errbuf_set(err, -EINVAL, "ip=: field %u (%s) longer than %u bytes", k + 1,
                                          field_names[k], IP_FIELD_MAX);
                memcpy(f[k], p, n);
                if (!p[n])
                        break;
                p += n + 1;
        }
        int r = parse_fields(f, ret, err);
        if (r < 0)
                *ret = (struct ip_config) {};
        return r;
}

/* --- rtnetlink ------------------------------------------------------------------------------- */

struct nl_msg {
        struct nlmsghdr h;
        char payload[NL_BUF];
};

static void *nl_init(struct nl_msg *m, uint16_t type, uint16_t flags, size_t hdr_len) {
        memset(m, 0, sizeof(*m));
        m->h.nlmsg_len = (uint32_t) NLMSG_LENGTH(hdr_len);
        m->h.nlmsg_type = type;
        m->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        return NLMSG_DATA(&m->h);
}

static void nl_attr(struct nl_msg *m, uint16_t type, const void *data, size_t len) {
        struct rtattr *a = (struct rtattr *) ((char *) &m->h + NLMSG_ALIGN(m->h.nlmsg_len));

        /* The messages built here have a few small attributes: NL_BUF always holds them. */
        a->rta_type = type;
        a->rta_len = (unsigned short) RTA_LENGTH(len);
        memcpy(RTA_DATA(a), data, len);
        m->h.nlmsg_len = (uint32_t) (NLMSG_ALIGN(m->h.nlmsg_len) + RTA_ALIGN(a->rta_len));
}

/* Finds the acknowledgement of seq in one datagram: 1 with *ret set, 0 if not there. */
static int nl_find_ack(const char *buf, size_t n, uint32_t seq, int *ret) {
        for (const struct nlmsghdr *h = (const struct nlmsghdr *) buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
                if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR)
                        continue;
                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
                        return -EBADMSG;
                *ret = ((const struct nlmsgerr *) NLMSG_DATA(h))->error;
                return 1;
        }
        return 0;
}

/* Sends one request and waits for its acknowledgement: 0, or the kernel's -errno. */
static int nl_request(int fd, struct nl_msg *m) {
        static uint32_t seq;
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        char buf[8192] __attribute__((aligned(4)));

        m->h.nlmsg_seq = ++seq;
        if (sendto(fd, &m->h, m->h.nlmsg_len, 0, (struct sockaddr *) &kernel, sizeof(kernel)) < 0)
                return -errno;
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int r = poll(&p, 1, NL_TIMEOUT_MS), result;
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        return r < 0 ? -errno : -ETIMEDOUT;
                ssize_t n = recv(fd, buf, sizeof(buf), 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                r = nl_find_ack(buf, (size_t) n, m->h.nlmsg_seq, &result);
                if (r != 0)
                        return r < 0 ? r : result;
        }
}

static int link_up(int fd, int ifindex) {
        struct nl_msg m;
        struct ifinfomsg *ifi = nl_init(&m, RTM_NEWLINK, 0, sizeof(*ifi));

        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = ifindex;
        ifi->ifi_flags = IFF_UP;
        ifi->ifi_change = IFF_UP;
        return nl_request(fd, &m);
}

static int addr_add(int fd, int ifindex, const struct ip_config *c) {
        struct nl_msg m;
        struct ifaddrmsg *ifa = nl_init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, sizeof(*ifa));
        struct in_addr brd = { .s_addr = c->client.s_addr | ~c->netmask.s_addr };

        ifa->ifa_family = AF_INET;
        ifa->ifa_prefixlen = (unsigned char) c->prefixlen;
        ifa->ifa_scope = RT_SCOPE_UNIVERSE;
        ifa->ifa_index = (unsigned) ifindex;
        nl_attr(&m, IFA_LOCAL, &c->client, sizeof(c->client));
        nl_attr(&m, IFA_ADDRESS, &c->client, sizeof(c->client));
        if (c->prefixlen < 31)
                nl_attr(&m, IFA_BROADCAST, &brd, sizeof(brd));
        return nl_request(fd, &m);
}

static int route_add_default(int fd, int ifindex, struct in_addr gw) {
        struct nl_msg m;
        struct rtmsg *rt = nl_init(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, sizeof(*rt));
        uint32_t oif = (uint32_t) ifindex;

        rt->rtm_family = AF_INET;
        rt->rtm_dst_len = 0;
        rt->rtm_table = RT_TABLE_MAIN;
        rt->rtm_protocol = RTPROT_BOOT;
        rt->rtm_scope = RT_SCOPE_UNIVERSE;
        rt->rtm_type = RTN_UNICAST;
        nl_attr(&m, RTA_GATEWAY, &gw, sizeof(gw));
        nl_attr(&m, RTA_OIF, &oif, sizeof(oif));
        return nl_request(fd, &m);
}

static uint64_t now_ms(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000U + (uint64_t) ts.tv_nsec / 1000000U;
}

static void interfaces_present(char *out, size_t size) {
        struct if_nameindex *ni = if_nameindex();
        size_t k = 0;

        snprintf(out, size, "none");
        for (struct if_nameindex *i = ni; i && i->if_index && k + 1 < size; i++) {
                int w = snprintf(out + k, size - k, "%s%s", k ? " " : "", i->if_name);
                k = w < 0 ? size : k + (size_t) w;
        }
        if (ni)
                if_freenameindex(ni);
}

/* The device's index once it exists (its driver may still be probing), polling every 50 ms. */
static int wait_device(const char *dev, unsigned timeout_ms, errbuf *err) {
        uint64_t deadline = now_ms() + timeout_ms;

        for (;;) {
                unsigned idx = if_nametoindex(dev);
                if (idx > 0)
                        return (int) idx;
                if (now_ms() >= deadline) {
                        char seen[256];
                        interfaces_present(seen, sizeof(seen));
                        return errbuf_set(err, -ETIMEDOUT, "ip=: device %s did not appear within %u ms "
                                          "(interfaces present: %s)", dev, timeout_ms, seen);
                }
                (void) nanosleep(&(struct timespec) { .tv_nsec = 50 * 1000 * 1000 }, NULL);
        }
}

static int configure_device(int fd, const struct ip_config *c, unsigned timeout_ms, errbuf *err) {
        char a[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN];
        int idx, r;

        idx = wait_device(c->device, timeout_ms, err);
        if (idx < 0)
                return idx;
        inet_ntop(AF_INET, &c->client, a, sizeof(a));
        inet_ntop(AF_INET, &c->gateway, g, sizeof(g));
        if ((r = link_up(fd, idx)) < 0)
                return errbuf_set(err, r, "ip=: cannot bring %s up: %s", c->device, strerror(-r));
        if ((r = addr_add(fd, idx, c)) < 0)
                return errbuf_set(err, r, "ip=: cannot add %s/%u to %s: %s", a, c->prefixlen, c->device, strerror(-r));
        if (c->gateway.s_addr && (r = route_add_default(fd, idx, c->gateway)) < 0)
                return errbuf_set(err, r, "ip=: cannot add the default route via %s on %s: %s", g, c->device,
                                  strerror(-r));
        if (c->hostname[0] && sethostname(c->hostname, strlen(c->hostname)) < 0)
                return errbuf_set(err, -errno, "ip=: cannot set the host name: %s", strerror(errno));
        log_info("Network: %s %s/%u%s%s%s%s.", c->device, a, c->prefixlen, c->gateway.s_addr ? ", gateway " : "",
                 c->gateway.s_addr ? g : "", c->hostname[0] ? ", host name " : "", c->hostname);
        return 0;
}

int network_apply(const struct ip_config *c, unsigned timeout_ms, errbuf *err) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_nl local = { .nl_family = AF_NETLINK };
        int r;

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot open a NETLINK_ROUTE socket: %s", strerror(errno));
        if (bind(fd, (struct sockaddr *) &local, sizeof(local)) < 0)
                return errbuf_set(err, -errno, "cannot bind the NETLINK_ROUTE socket: %s", strerror(errno));
        /* lo comes up with 127.0.0.1/8, which the kernel adds to a loopback device going up. */
        r = link_up(fd, (int) if_nametoindex("lo"));
        if (r < 0)
                return errbuf_set(err, r, "cannot bring lo up: %s", strerror(-r));
        if (!c || !c->enabled)
                return 0;
        return configure_device(fd, c, timeout_ms, err);
}

int network_write_resolv_conf(const struct ip_config *c, const char *path, errbuf *err) {
        struct buf b = {};
        int r = 0;

        if (!c->enabled || c->n_dns == 0)
                return 0;
        for (unsigned i = 0; i < c->n_dns && r >= 0; i++) {
                char a[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &c->dns[i], a, sizeof(a));
                r = buf_printf(&b, "nameserver %s\n", a);
        }
        if (r >= 0) {
                _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
                r = fd < 0 ? -errno : loop_write(fd, b.data, b.len);
        }
        buf_free(&b);
        if (r < 0)
                return errbuf_set(err, r, "cannot write %s: %s", path, strerror(-r));
        return 0;
}
