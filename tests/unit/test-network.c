/* SPDX-License-Identifier: MIT */
/* init/network.c: the ip= parser, and the rtnetlink configuration applied in a private network
 * namespace (when the test may create one), checked with getifaddrs() and /proc/net/route. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <sched.h>

#include "network.h"
#include "tmptree.h"

static const char *addr(struct in_addr a) {
        static char s[4][INET_ADDRSTRLEN];
        static unsigned i;
        char *p = s[i++ % 4];
        return inet_ntop(AF_INET, &a, p, INET_ADDRSTRLEN);
}

static void test_static(void **state) {
        struct ip_config c;
        errbuf err = {};

        (void) state;
        assert_int_equal(ip_config_parse("10.0.2.15::10.0.2.2:255.255.255.0::eth0:off", &c, &err), 0);
        assert_true(c.enabled);
        assert_string_equal(addr(c.client), "10.0.2.15");
        assert_string_equal(addr(c.gateway), "10.0.2.2");
        assert_string_equal(addr(c.netmask), "255.255.255.0");
        assert_int_equal(c.prefixlen, 24);
        assert_string_equal(c.device, "eth0");
        assert_string_equal(c.hostname, "");
        assert_int_equal(c.n_dns, 0);

        /* All ten fields; server and NTP are checked and ignored. */
        assert_int_equal(ip_config_parse("192.168.1.5:192.168.1.9:192.168.1.1:255.255.255.128:box-1.lan:ens3:none:"
                                         "1.1.1.1:8.8.8.8:192.168.1.2", &c, &err), 0);
        assert_int_equal(c.prefixlen, 25);
        assert_string_equal(c.hostname, "box-1.lan");
        assert_string_equal(c.device, "ens3");
        assert_int_equal(c.n_dns, 2);
        assert_string_equal(addr(c.dns[0]), "1.1.1.1");
        assert_string_equal(addr(c.dns[1]), "8.8.8.8");

        /* No gateway; fewer fields; autoconf "static". */
        assert_int_equal(ip_config_parse("172.16.0.2:::255.255.0.0::eth1", &c, &err), 0);
        assert_int_equal(c.gateway.s_addr, 0);
        assert_int_equal(c.prefixlen, 16);
        assert_int_equal(ip_config_parse("172.16.0.2:::255.255.255.255::eth1:static", &c, &err), 0);
        assert_int_equal(c.prefixlen, 32);
}

static void test_class_default(void **state) {
        struct ip_config c;

        (void) state;
        assert_int_equal(ip_config_parse("10.1.2.3::10.0.0.1:::eth0:off", &c, NULL), 0);
        assert_int_equal(c.prefixlen, 8);
        assert_string_equal(addr(c.netmask), "255.0.0.0");
        assert_int_equal(ip_config_parse("172.16.5.4:::::eth0", &c, NULL), 0);
        assert_int_equal(c.prefixlen, 16);
        assert_int_equal(ip_config_parse("192.168.7.4:::::eth0", &c, NULL), 0);
        assert_int_equal(c.prefixlen, 24);
        assert_string_equal(addr(c.netmask), "255.255.255.0");
}

static void test_off(void **state) {
        struct ip_config c;
        errbuf err = {};

        (void) state;
        const char *off[] = { NULL, "", "off", "none" };
        for (size_t i = 0; i < ELEMENTSOF(off); i++) {
                assert_int_equal(ip_config_parse(off[i], &c, &err), 0);
                assert_false(c.enabled);
        }
        assert_int_equal(ip_config_parse("dhcp", &c, &err), -EOPNOTSUPP);
        assert_non_null(strstr(err.msg, "not supported"));
        assert_false(c.enabled);
}

static void expect_error(const char *s, const char *needle) {
        struct ip_config c;
        errbuf err = {};

        assert_int_equal(ip_config_parse(s, &c, &err), -EINVAL);
        if (!strstr(err.msg, needle))
                fail_msg("'%s': message '%s' lacks '%s'", s, err.msg, needle);
        assert_false(c.enabled);
}

static void test_errors(void **state) {
        (void) state;
        expect_error("10.0.2::10.0.2.2:255.255.255.0::eth0:off", "field 1 (client-ip) '10.0.2'");
        expect_error("::10.0.2.2:255.255.255.0::eth0:off", "client-ip");
        expect_error("0.0.0.0:::::eth0", "client-ip");
        expect_error("127.0.0.2:::::eth0", "client-ip");
        expect_error("224.0.0.1:::::eth0", "client-ip");
        expect_error("10.0.2.15:x:10.0.2.2:255.255.255.0::eth0:off", "server-ip");
        expect_error("10.0.2.15::10.0.3.2:255.255.255.0::eth0:off", "field 3 (gw-ip) '10.0.3.2'");
        expect_error("10.0.2.15::10.0.2.15:255.255.255.0::eth0:off", "gw-ip");
        expect_error("10.0.2.15::10.0.2.2:255.0.255.0::eth0:off", "field 4 (netmask)");
        expect_error("10.0.2.15::10.0.2.2:0.0.0.0::eth0:off", "netmask");
        expect_error("10.0.2.15::10.0.2.2:24::eth0:off", "netmask");
        expect_error("10.0.2.15::10.0.2.2:255.255.255.0:bad_host:eth0:off", "field 5 (hostname)");
        expect_error("10.0.2.15::10.0.2.2:255.255.255.0:-x:eth0:off", "hostname");
        expect_error("10.0.2.15::10.0.2.2:255.255.255.0:::off", "field 6 (device)");
        expect_error("10.0.2.15::10.0.2.2:255.255.255.0::averyveryverylongname:off", "device");
        expect_error("10.0.2.15::10.0.2.2:255.255.255.0::eth/0:off", "device");
        expect_error("10.0.2.15::10.0.2.2:255.255.255.0::eth0:dhcp", "field 7 (autoconf) 'dhcp'");
        expect_error("10.0.2.15::10.0.2.2:255.255.255.0::eth0:off:1.1.1", "field 8 (dns0-ip)");
        expect_error("10.0.2.15::10.0.2.2:255.255.255.0::eth0:off::x", "dns1-ip");
        expect_error("10.0.2.15::10.0.2.2:255.255.255.0::eth0:off:::x", "ntp0-ip");
        expect_error("10.0.2.15::10.0.2.2:255.255.255.0::eth0:off::::", "more than 10 fields");
        expect_error("10.0.2.15::10.0.2.2:255.255.255.0:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                     ":eth0:off", "longer than 64");
        expect_error("10.0.2.15\x01:::::eth0", "\\x01");
}

static void test_resolv_conf(void **state) {
        struct ip_config c;
        char buf[256] = "";
        FILE *f;

        (void) state;
        assert_int_equal(ip_config_parse("10.0.2.15::10.0.2.2:255.255.255.0::eth0:off:10.0.2.3:9.9.9.9", &c, NULL), 0);
        assert_int_equal(network_write_resolv_conf(&c, at("resolv.conf"), NULL), 0);
        f = fopen(at("resolv.conf"), "r");
        assert_non_null(f);
        assert_int_equal(fread(buf, 1, sizeof(buf) - 1, f), strlen("nameserver 10.0.2.3\nnameserver 9.9.9.9\n"));
        fclose(f);
        assert_string_equal(buf, "nameserver 10.0.2.3\nnameserver 9.9.9.9\n");
}

static bool has_address(const char *ifname, const char *a, unsigned prefixlen) {
        struct ifaddrs *list, *i;
        bool found = false;

        assert_int_equal(getifaddrs(&list), 0);
        for (i = list; i; i = i->ifa_next) {
                if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || strcmp(i->ifa_name, ifname) != 0)
                        continue;
                struct in_addr x = ((struct sockaddr_in *) i->ifa_addr)->sin_addr;
                struct in_addr m = ((struct sockaddr_in *) i->ifa_netmask)->sin_addr;
                if (strcmp(addr(x), a) == 0 && (unsigned) __builtin_popcount(m.s_addr) == prefixlen &&
                    (i->ifa_flags & IFF_UP))
                        found = true;
        }
        freeifaddrs(list);
        return found;
}

/* The default route in /proc/net/route: "IFACE 00000000 GATEWAY(hex, network order) ...". */
static bool has_default_route(const char *ifname, const char *gw) {
        char line[256], iface[32];
        unsigned dst, gateway;
        struct in_addr want;
        bool found = false;
        FILE *f = fopen("/proc/net/route", "r");

        assert_non_null(f);
        assert_int_equal(inet_pton(AF_INET, gw, &want), 1);
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "%31s %x %x", iface, &dst, &gateway) == 3 && dst == 0 && strcmp(iface, ifname) == 0 &&
                    gateway == want.s_addr)
                        found = true;
        fclose(f);
        return found;
}

static void test_apply_netns(void **state) {
        struct ip_config c;
        errbuf err = {};

        (void) state;
        if (unshare(CLONE_NEWNET) < 0)
                skip(); /* not allowed to make a network namespace here */
        /* A fresh namespace has only lo, down. It takes the address and the route like a NIC. */
        assert_int_equal(ip_config_parse("10.9.8.7::10.9.8.1:255.255.255.0::lo:off", &c, &err), 0);
        assert_int_equal(network_apply(&c, 1000, &err), 0);
        assert_true(has_address("lo", "127.0.0.1", 8));
        assert_true(has_address("lo", "10.9.8.7", 24));
        assert_true(has_default_route("lo", "10.9.8.1"));
        /* Applying again replaces rather than fails. */
        assert_int_equal(network_apply(&c, 1000, &err), 0);

        /* A device that never appears: a timeout naming it and what exists. */
        assert_int_equal(ip_config_parse("10.9.8.7::10.9.8.1:255.255.255.0::eth9:off", &c, &err), 0);
        assert_int_equal(network_apply(&c, 120, &err), -ETIMEDOUT);
        assert_non_null(strstr(err.msg, "eth9 did not appear within 120 ms"));
        assert_non_null(strstr(err.msg, "lo"));
        /* The kernel's refusal comes back through the ACK: a gateway no route reaches. */
        c = (struct ip_config) { .enabled = true, .prefixlen = 32, .device = "lo" };
        inet_pton(AF_INET, "10.7.0.1", &c.client);
        inet_pton(AF_INET, "255.255.255.255", &c.netmask);
        inet_pton(AF_INET, "10.6.0.1", &c.gateway);
        assert_int_equal(network_apply(&c, 100, &err), -ENETUNREACH);
        assert_non_null(strstr(err.msg, "default route via 10.6.0.1"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_static),
                cmocka_unit_test(test_class_default),
                cmocka_unit_test(test_off),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_resolv_conf),
                cmocka_unit_test(test_apply_netns),
        };
        return cmocka_run_group_tests(tests, tmptree_setup, tmptree_teardown);
}
