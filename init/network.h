/* SPDX-License-Identifier: MIT */
/* The kernel-style ip= parameter (DESIGN §1 step 4; Documentation/admin-guide/nfs/nfsroot.rst):
 *   ip=<client-ip>:<server-ip>:<gw-ip>:<netmask>:<hostname>:<device>:<autoconf>:<dns0-ip>:<dns1-ip>:<ntp0-ip>
 * static IPv4 only (autoconf empty, "off", "none" or "static"); ip=off / ip=none / no ip= mean no
 * network. An empty netmask is the address's class default, as the kernel does. It is applied with
 * rtnetlink on a NETLINK_ROUTE socket: lo and the device up, the address, a default route via the
 * gateway; every request is acknowledged or the error is reported. */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>

#include "util.h"

#define IP_HOSTNAME_MAX 64U
#define IP_DNS_MAX 2U

struct ip_config {
        bool enabled;
        struct in_addr client, gateway, netmask; /* gateway 0 = no default route */
        unsigned prefixlen;
        char hostname[IP_HOSTNAME_MAX + 1]; /* "" = leave as is */
        char device[IFNAMSIZ];
        unsigned n_dns;
        struct in_addr dns[IP_DNS_MAX];
};

/* s NULL or "off"/"none" -> enabled false. Errors name the field ("ip=: netmask '255.0.255.0' ..."). */
int ip_config_parse(const char *s, struct ip_config *ret, errbuf *err);

/* Brings lo up (always), then, if c->enabled, waits up to timeout_ms for the device to appear,
 * brings it up, adds the address and the default route, and sets the host name. */
int network_apply(const struct ip_config *c, unsigned timeout_ms, errbuf *err);

/* Writes nameserver lines for c's DNS servers to path (nothing if there are none). */
int network_write_resolv_conf(const struct ip_config *c, const char *path, errbuf *err);
