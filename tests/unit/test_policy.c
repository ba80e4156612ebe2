/*
 * test_policy.c - the rule set (daemon/core/policy.c, policy_parse.c):
 * built through the same calls the configuration file's reader makes, then
 * asked about callers, operations and addresses. First match decides;
 * allow rules grant privileged ports, abstract names and paths only when
 * they name them; mistakes in rules are refused with a reason.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <cmocka.h>

#include "core.h"
#include "policy_int.h"

/* Builds a set from "[section]" and "key = value" lines; NULL (with why
 * printed) if any is refused. */
static struct policy *build(const char *const *lines, char *why, size_t n)
{
    struct policy *p = policy_new();
    assert_non_null(p);
    p->unpriv_port = 1024; /* the system's may differ; the tests fix it */
    for (int i = 0; lines[i]; i++) {
        const char *l = lines[i];
        int rc;
        if (l[0] == '[') {
            char sect[128];
            snprintf(sect, sizeof sect, "%.*s", (int)(strlen(l) - 2), l + 1);
            rc = policy_section(p, sect, i + 1, why, n);
        } else {
            char key[64];
            const char *eq = strchr(l, '=');
            assert_non_null(eq);
            snprintf(key, sizeof key, "%.*s", (int)(eq - l - 1), l);
            rc = policy_key(p, key, eq + 2, why, n);
        }
        if (rc < 0) {
            policy_free(p);
            return NULL;
        }
    }
    int line;
    if (policy_finish(p, &line, why, n) < 0) {
        policy_free(p);
        return NULL;
    }
    return p;
}

static struct sockaddr_storage ss;
static socklen_t sslen;

static const struct sockaddr *inet(const char *host, int port)
{
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in = (void *)&ss;
    struct sockaddr_in6 *in6 = (void *)&ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        sslen = sizeof *in;
    } else {
        assert_int_equal(inet_pton(AF_INET6, host, &in6->sin6_addr), 1);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        sslen = sizeof *in6;
    }
    return (const struct sockaddr *)&ss;
}

static const struct sockaddr *unix_addr(const char *path)
{
    assert_int_equal(sockaddr_unix(path, &ss, &sslen), 0);
    return (const struct sockaddr *)&ss;
}

static struct policy_caller alice = {.uid = 1001, .gid = 1001};
static const gid_t bob_groups[] = {50, 60};
static struct policy_caller bob = {.uid = 1002, .gid = 1002, .groups = bob_groups, .ngroups = 2};

/* The verdict and rule for one question, as "allow:NAME", "deny:NAME", "default:default". */
static const char *ask(const struct policy *p, const struct policy_caller *c, enum policy_op op,
                       const struct sockaddr *sa)
{
    static char out[128];
    const char *rule;
    struct policy_query q = {.caller = c, .op = op, .addr = sa, .addrlen = sslen};
    enum policy_verdict v = policy_check_in(p, &q, &rule);
    snprintf(out, sizeof out, "%s:%s",
             v == POLICY_ALLOW  ? "allow"
             : v == POLICY_DENY ? "deny"
                                : "default",
             rule);
    return out;
}

static void test_first_match(void **state)
{
    static const char *const lines[] = {"[rule lan-web]",
                                        "uid = 1001",
                                        "action = allow",
                                        "addresses = 10.0.0.0/8",
                                        "ports = 80 443",
                                        "[rule lan]",
                                        "uid = 1001",
                                        "action = deny",
                                        "addresses = 10.0.0.0/8",
                                        "[rule v6]",
                                        "action = deny",
                                        "addresses = 2001:db8::/32",
                                        NULL};
    char why[256] = "";
    struct policy *p = build(lines, why, sizeof why);
    assert_non_null(p);
    assert_string_equal(ask(p, &alice, POLICY_CONNECT, inet("10.1.2.3", 443)), "allow:lan-web");
    assert_string_equal(ask(p, &alice, POLICY_CONNECT, inet("10.1.2.3", 22)), "deny:lan");
    assert_string_equal(ask(p, &alice, POLICY_CONNECT, inet("192.0.2.1", 22)), "default:default");
    /* another caller: the uid rules do not select it */
    assert_string_equal(ask(p, &bob, POLICY_CONNECT, inet("10.1.2.3", 443)), "default:default");
    assert_string_equal(ask(p, &bob, POLICY_CONNECT, inet("2001:db8::5", 1)), "deny:v6");
    assert_string_equal(ask(p, &bob, POLICY_CONNECT, inet("2001:db9::5", 1)), "default:default");
    /* an IPv4-mapped IPv6 address is judged as the IPv4 address it reaches */
    assert_string_equal(ask(p, &alice, POLICY_CONNECT, inet("::ffff:10.9.9.9", 22)), "deny:lan");
    policy_free(p);
}

static void test_groups_ops_default(void **state)
{
    static const char *const lines[] = {"[policy]",
                                        "default = deny",
                                        "[rule g60]",
                                        "group = 60",
                                        "action = allow",
                                        "ops = send-to",
                                        "[rule alice]",
                                        "uid = 1001",
                                        "action = allow",
                                        "ops = connect, bind",
                                        NULL};
    char why[256] = "";
    struct policy *p = build(lines, why, sizeof why);
    assert_non_null(p);
    /* bob is in group 60 by a supplementary group */
    assert_string_equal(ask(p, &bob, POLICY_SEND_TO, inet("192.0.2.1", 53)), "allow:g60");
    assert_string_equal(ask(p, &bob, POLICY_CONNECT, inet("192.0.2.1", 53)), "deny:default");
    assert_string_equal(ask(p, &alice, POLICY_CONNECT, inet("192.0.2.1", 53)), "allow:alice");
    assert_string_equal(ask(p, &alice, POLICY_LISTEN, inet("0.0.0.0", 8080)), "deny:default");
    policy_free(p);
}

/* An allow rule grants a privileged port, an abstract name or a path only
 * when it names it; a deny rule without address keys matches everything. */
static void test_grants_are_explicit(void **state)
{
    static const char *const lines[] = {"[rule broad]",
                                        "uid = 1001",
                                        "action = allow",
                                        "ops = listen bind",
                                        "[rule low]",
                                        "uid = 1002",
                                        "action = allow",
                                        "ports = 80",
                                        "[rule names]",
                                        "uid = 1002",
                                        "action = allow",
                                        "abstract = @app-",
                                        "paths = /run/app/",
                                        "[rule nothing]",
                                        "uid = 1003",
                                        "action = deny",
                                        NULL};
    char why[256] = "";
    struct policy *p = build(lines, why, sizeof why);
    assert_non_null(p);
    struct policy_caller carol = {.uid = 1003, .gid = 1003};
    assert_string_equal(ask(p, &alice, POLICY_LISTEN, inet("0.0.0.0", 8080)), "allow:broad");
    assert_string_equal(ask(p, &alice, POLICY_LISTEN, inet("0.0.0.0", 80)), "default:default");
    assert_string_equal(ask(p, &alice, POLICY_LISTEN, inet("0.0.0.0", 0)), "allow:broad");
    assert_string_equal(ask(p, &alice, POLICY_LISTEN, unix_addr("@app-x")), "default:default");
    assert_string_equal(ask(p, &alice, POLICY_LISTEN, unix_addr("/run/app/s")), "default:default");
    assert_string_equal(ask(p, &bob, POLICY_BIND, inet("0.0.0.0", 80)), "allow:low");
    assert_string_equal(ask(p, &bob, POLICY_BIND, inet("0.0.0.0", 81)), "default:default");
    /* connect to port 22 is not a privileged act: "low" (ports = 80) does not match it */
    assert_string_equal(ask(p, &bob, POLICY_CONNECT, inet("127.0.0.1", 22)), "default:default");
    assert_string_equal(ask(p, &bob, POLICY_CONNECT, unix_addr("@app-x")), "allow:names");
    assert_string_equal(ask(p, &bob, POLICY_CONNECT, unix_addr("@other")), "default:default");
    assert_string_equal(ask(p, &bob, POLICY_CONNECT, unix_addr("/run/app/s")), "allow:names");
    assert_string_equal(ask(p, &bob, POLICY_CONNECT, unix_addr("/run/apps")), "default:default");
    /* ".." cannot climb out of a granted directory, nor into a denied one */
    assert_string_equal(ask(p, &bob, POLICY_CONNECT, unix_addr("/run/app/../x")),
                        "default:default");
    assert_string_equal(ask(p, &bob, POLICY_CONNECT, unix_addr("/run//x/../app/./s")),
                        "allow:names");
    assert_string_equal(ask(p, &carol, POLICY_CONNECT, unix_addr("/tmp/s")), "deny:nothing");
    assert_string_equal(ask(p, &carol, POLICY_LISTEN, unix_addr("@x")), "deny:nothing");
    assert_string_equal(ask(p, &carol, POLICY_BIND, inet("::", 80)), "deny:nothing");
    /* Whether a grant of a privileged port exists at all (the check made
     * before a listen's addresses are known): only an allow rule for the
     * caller and the operation that names the port. */
    assert_true(policy_grants_port_in(p, &bob, POLICY_BIND, 80));
    assert_true(policy_grants_port_in(p, &bob, POLICY_LISTEN, 80));
    assert_false(policy_grants_port_in(p, &bob, POLICY_LISTEN, 81));
    assert_false(policy_grants_port_in(p, &alice, POLICY_LISTEN, 80)); /* broad names no port */
    assert_false(policy_grants_port_in(p, &carol, POLICY_LISTEN, 80)); /* deny never grants */
    assert_false(policy_grants_port_in(NULL, &bob, POLICY_LISTEN, 80));
    policy_free(p);
}

static void test_mistakes_refused(void **state)
{
    static const struct {
        const char *lines[4];
        const char *says;
    } bad[] = {
        {{"[rule a]", "action = maybe", NULL}, "allow or deny"},
        {{"[rule a]", "addresses = 10.0.0.1/8", NULL}, "bits set past"},
        {{"[rule a]", "addresses = 10.0.0.0/33", NULL}, "prefix length"},
        {{"[rule a]", "addresses = example.org", NULL}, "not an address"},
        {{"[rule a]", "ports = 10-5", NULL}, "not a port"},
        {{"[rule a]", "ports = 70000", NULL}, "not a port"},
        {{"[rule a]", "paths = run/x", NULL}, "absolute"},
        {{"[rule a]", "abstract = x", NULL}, "starts with '@'"},
        {{"[rule a]", "ops = accept", NULL}, "not an operation"},
        {{"[rule a]", "uid = no-such-user-here", NULL}, "no user"},
        {{"[rule a]", "colour = red", NULL}, "unknown key"},
        {{"[rule a]", "ports = 80", NULL}, "no action"},
        {{"[rule default]", NULL}, "not \"default\""},
        {{"[rule a b]", NULL}, "[rule NAME]"},
        {{"[rule a]", "action = allow", "[rule a]", NULL}, "given twice"},
        {{"[policy]", "default = maybe", NULL}, "allow or deny"},
        {{"[rule a]", "group = 0", "max-handles = 3", NULL}, "not by group"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char why[256] = "";
        struct policy *p = build(bad[i].lines, why, sizeof why);
        if (p || !strstr(why, bad[i].says))
            fail_msg("case %zu: wanted a refusal saying '%s', got '%s'", i, bad[i].says, why);
    }
}

static void test_caps(void **state)
{
    static const char *const lines[] = {"[rule few]",      "uid = 1001", "max-handles = 3",
                                        "[rule small]",    "uid = 1002", "max-memory = 65536",
                                        "[rule fewer]",    "uid = 1001", "action = deny",
                                        "max-handles = 1", NULL};
    char why[256] = "";
    struct policy *p = build(lines, why, sizeof why);
    assert_non_null(p);
    struct policy *old = policy_swap(p);
    const char *rule;
    assert_int_equal(policy_max_handles(alice.uid, 4096, &rule), 3);
    assert_string_equal(rule, "few");
    assert_int_equal(policy_max_handles(bob.uid, 4096, &rule), 4096);
    assert_null(rule);
    assert_int_equal(policy_max_memory(bob.uid, 1 << 26, &rule), 65536);
    assert_string_equal(rule, "small");
    assert_int_equal(policy_max_memory(alice.uid, 1 << 26, &rule), 1 << 26);
    assert_null(rule);
    /* a rule with only a cap takes no part in deciding addresses */
    assert_string_equal(ask(p, &alice, POLICY_CONNECT, inet("192.0.2.1", 1)), "deny:fewer");
    policy_free(policy_swap(old));
}

int main(void)
{
    netd_cfg.log_level = LOG_ERR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_match),
        cmocka_unit_test(test_groups_ops_default),
        cmocka_unit_test(test_grants_are_explicit),
        cmocka_unit_test(test_mistakes_refused),
        cmocka_unit_test(test_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
