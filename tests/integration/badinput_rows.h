/*
 * badinput_rows.h - the tables of malformed and hostile request lines that
 * test_badinput.c sends to a real netd, with the answer each must get.
 * tests/unit/test_lean.c runs the same lines through the lean data path
 * and through jansson, which must agree on every one.
 */
#ifndef NETD_TEST_BADINPUT_ROWS_H
#define NETD_TEST_BADINPUT_ROWS_H

#include <stddef.h>

/*
 * In a row's line: %H a stream of this connection, %E another one (for
 * writes that succeed, so %H's bytes stay as the end of the test expects),
 * %D a bound datagram handle of this connection, %O a stream of another
 * connection; %Z, %X, %P, %S and %T are spellings of %H's name that are not
 * its name (a leading zero in the worker or the sequence, a '+', a space, a
 * tab written as \t).
 */
struct row {
    const char *line;
    size_t len;        /* 0: strlen(line); set for lines with a NUL byte */
    int code;          /* the expected error code; 0: a notification, nothing comes back;
                          RESULT: a result */
    const char *id;    /* the answer's id, as JSON */
    const char *batch; /* an array answer: "code:id" items, code 0 for a result */
    int alt;           /* another code that is as right as @code, or 0 */
};

#define RESULT 1

#define ERR(line, code, id)                                                                        \
    {                                                                                              \
        line, 0, code, id, NULL, 0                                                                 \
    }
#define RAW(lit, code, id)                                                                         \
    {                                                                                              \
        lit, sizeof(lit) - 1, code, id, NULL, 0                                                    \
    }
#define OKAY(line, id)                                                                             \
    {                                                                                              \
        line, 0, RESULT, id, NULL, 0                                                               \
    }
#define NOANSWER(line)                                                                             \
    {                                                                                              \
        line, 0, 0, NULL, NULL, 0                                                                  \
    }
#define BATCH(line, items)                                                                         \
    {                                                                                              \
        line, 0, 0, NULL, items, 0                                                                 \
    }
#define RQ(id, method, params)                                                                     \
    "{\"jsonrpc\":\"2.0\",\"id\":" #id ",\"method\":\"" method "\",\"params\":" params "}"

static const struct row rows[] = {
    /* Not JSON at all: parse error, and the id cannot be known. */
    ERR("{", -32700, "null"),
    ERR("not json at all", -32700, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1", -32700, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1}}", -32700, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1} "
        "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":2}",
        -32700, "null"),
    ERR("{'jsonrpc':'2.0','method':'ping','id':1}", -32700, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":\"p\xff\xfeng\",\"id\":3}", -32700, "null"),
    RAW("{\"jsonrpc\":\"2.0\",\0\"method\":\"ping\",\"id\":4}", -32700, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":01}", -32700, "null"),
    /* JSON, but not a request. */
    ERR("42", -32600, "null"),
    ERR("\"ping\"", -32600, "null"),
    ERR("null", -32600, "null"),
    ERR("true", -32600, "null"),
    ERR("{}", -32600, "null"),
    ERR("[]", -32600, "null"),
    ERR("{\"jsonrpc\":\"1.0\",\"method\":\"ping\",\"id\":10}", -32600, "10"),
    ERR("{\"method\":\"ping\",\"id\":11}", -32600, "11"),
    ERR("{\"jsonrpc\":2.0,\"method\":\"ping\",\"id\":12}", -32600, "12"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":13}", -32600, "13"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":42,\"id\":14}", -32600, "14"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":null,\"id\":15}", -32600, "15"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":{}}", -32600, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":[1]}", -32600, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":true}", -32600, "null"),
    BATCH("[1,2,3]", "-32600:null,-32600:null,-32600:null"),
    BATCH("[\"x\",{\"jsonrpc\":\"2.0\"}]", "-32600:null,-32600:null"),
    BATCH("[{\"jsonrpc\":\"2.0\",\"id\":16,\"method\":\"ping\"},5,{\"jsonrpc\":\"2.0\",\"id\":17,"
          "\"method\":\"nosuch\"}]",
          "0:16,-32600:null,-32601:17"),
    /* Methods that do not exist. */
    ERR("{\"jsonrpc\":\"2.0\",\"id\":20,\"method\":\"nosuch\"}", -32601, "20"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":21,\"method\":\"\"}", -32601, "21"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":22,\"method\":\"PING\"}", -32601, "22"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":23,\"method\":\"rpc.nosuch\"}", -32601, "23"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":24,\"method\":\"pi\\u0000ng\"}", -32601, "24"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":\"str-id\",\"method\":\"nosuch\"}", -32601, "\"str-id\""),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":-7,\"method\":\"nosuch\"}", -32601, "-7"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"nosuch\"}", -32601, "null"),
    /* Parameters that are not an object, missing, unknown or of the wrong type. */
    ERR(RQ(30, "ping", "[]"), -32602, "30"),
    ERR(RQ(31, "ping", "7"), -32602, "31"),
    ERR(RQ(32, "ping", "\"x\""), -32602, "32"),
    ERR(RQ(33, "ping", "null"), -32602, "33"),
    ERR(RQ(34, "ping", "{\"extra\":1}"), -32602, "34"),
    ERR(RQ(35, "read", "{}"), -32602, "35"),
    ERR(RQ(36, "read", "{\"handle\":\"%H\"}"), -32602, "36"),
    ERR(RQ(37, "read", "{\"handle\":42,\"nbytes\":1}"), -32602, "37"),
    ERR(RQ(38, "read", "{\"handle\":\"\",\"nbytes\":1}"), -32602, "38"),
    ERR(RQ(39, "read",
           "{\"handle\":\"h0123456789012345678901234567890123456789012345678901234567890123\","
           "\"nbytes\":1}"),
        -32602, "39"),
    ERR(RQ(40, "read", "{\"handle\":\"%H\",\"nbytes\":0}"), -32602, "40"),
    ERR(RQ(41, "read", "{\"handle\":\"%H\",\"nbytes\":-5}"), -32602, "41"),
    ERR(RQ(42, "read", "{\"handle\":\"%H\",\"nbytes\":1.5}"), -32602, "42"),
    ERR(RQ(43, "read", "{\"handle\":\"%H\",\"nbytes\":\"ten\"}"), -32602, "43"),
    ERR(RQ(44, "read", "{\"handle\":\"%H\",\"nbytes\":1e300}"), -32602, "44"),
    ERR(RQ(45, "read", "{\"handle\":\"%H\",\"nbytes\":9007199254740993}"), -32602, "45"),
    ERR(RQ(46, "chunk", "{\"handle\":\"%H\",\"nbytes\":\"all\"}"), -32602, "46"),
    ERR(RQ(47, "read", "{\"handle\":\"%H\",\"nbytes\":1,\"timeout\":-1}"), -32602, "47"),
    ERR(RQ(48, "read", "{\"handle\":\"%H\",\"nbytes\":1,\"timeout\":\"1\"}"), -32602, "48"),
    ERR(RQ(49, "read", "{\"handle\":\"%H\",\"nbytes\":1,\"timeout\":31536001}"), -32602, "49"),
    ERR(RQ(50, "read", "{\"handle\":\"%H\",\"nbytes\":1,\"timeout\":1e308}"), -32602, "50"),
    ERR(RQ(51, "read", "{\"handle\":\"%H\",\"nbytes\":1,\"timeout\":true}"), -32602, "51"),
    ERR(RQ(52, "read", "{\"handle\":\"%H\",\"nbytes\":1,\"encoding\":\"rot13\"}"), -32602, "52"),
    ERR(RQ(53, "write", "{\"handle\":\"%H\",\"data\":\"!!!!\"}"), -32602, "53"),
    ERR(RQ(54, "write", "{\"handle\":\"%H\",\"data\":\"ab=c\"}"), -32602, "54"),
    ERR(RQ(55, "write", "{\"handle\":\"%H\",\"data\":\"abc\",\"encoding\":\"hex\"}"), -32602, "55"),
    ERR(RQ(56, "write", "{\"handle\":\"%H\",\"data\":\"zz\",\"encoding\":\"hex\"}"), -32602, "56"),
    ERR(RQ(57, "write", "{\"handle\":\"%H\",\"data\":\"AA==\",\"encoding\":\"rot13\"}"), -32602,
        "57"),
    ERR(RQ(58, "write", "{\"handle\":\"%H\",\"data\":42}"), -32602, "58"),
    ERR(RQ(59, "write", "{\"handle\":\"%H\"}"), -32602, "59"),
    ERR(RQ(60, "shutdown", "{\"handle\":\"%H\",\"mode\":\"x\"}"), -32602, "60"),
    ERR(RQ(61, "wait", "{\"handle\":\"%H\",\"for\":\"nothing\"}"), -32602, "61"),
    ERR(RQ(62, "connect", "{\"host\":\"127.0.0.1\",\"port\":70000}"), -32602, "62"),
    ERR(RQ(63, "connect", "{\"host\":\"127.0.0.1\",\"port\":-1}"), -32602, "63"),
    ERR(RQ(64, "connect", "{\"host\":\"127.0.0.1\",\"port\":\"\"}"), -32602, "64"),
    ERR(RQ(65, "connect", "{\"host\":42,\"port\":80}"), -32602, "65"),
    ERR(RQ(66, "connect", "{\"host\":\"127.0.0.1\",\"port\":80,\"keep\":\"yes\"}"), -32602, "66"),
    ERR(RQ(67, "address", "{\"host\":\"127.0.0.1\",\"port\":80,\"multi\":1}"), -32602, "67"),
    ERR(RQ(68, "address", "{\"host\":\"127.0.0.1\",\"port\":80,\"family\":\"ipx\"}"), -32602, "68"),
    /* Handles that are not this caller's. */
    ERR(RQ(70, "read", "{\"handle\":\"nope\",\"nbytes\":1}"), -32002, "70"),
    ERR(RQ(71, "read", "{\"handle\":\"%O\",\"nbytes\":1,\"timeout\":0}"), -32002, "71"),
    ERR(RQ(72, "close", "{\"handle\":\"%O\"}"), -32002, "72"),
    /* A NUL inside must not cut the name short to a valid handle: unknown
     * handle, or invalid params for a name no handle can have. */
    {RQ(73, "read", "{\"handle\":\"%H\\u0000x\",\"nbytes\":1}"), 0, -32002, "73", NULL, -32602},
    ERR(RQ(74, "status", "{\"handle\":\"%H \"}"), -32002, "74"),
    /* Sizes past the configured limit. */
    ERR(RQ(75, "read", "{\"handle\":\"%H\",\"nbytes\":1099511627776}"), -32006, "75"),
    /* Notifications get no answer, whatever is wrong with them. */
    NOANSWER("{\"jsonrpc\":\"2.0\",\"method\":\"nosuch\"}"),
    NOANSWER(
        "{\"jsonrpc\":\"2.0\",\"method\":\"read\",\"params\":{\"handle\":\"nope\",\"nbytes\":1}}"),
    NOANSWER("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"params\":{\"bad\":true}}"),
    NOANSWER(
        "[{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}]"), /* A NUL byte never shortens a string into a
                                                           valid one (issue 9, finding 9). */
    ERR("{\"jsonrpc\":\"2.0\\u0000x\",\"id\":80,\"method\":\"ping\"}", -32600, "80"),
    ERR("{\"jsonrpc\":\"2.0\\u0000\",\"id\":81,\"method\":\"ping\"}", -32600, "81"),
    ERR("{\"jsonrpc\":\"\\u00002.0\",\"id\":82,\"method\":\"ping\"}", -32600, "82"),
    ERR("{\"jsonrpc\":\"2\\u0000.0\",\"id\":83,\"method\":\"ping\"}", -32600, "83"),
    ERR(RQ(84, "read", "{\"handle\":\"%H\",\"nbytes\":\"all\\u0000\",\"timeout\":0}"), -32602,
        "84"),
    ERR(RQ(85, "read", "{\"handle\":\"%H\",\"nbytes\":\"all\\u0000x\",\"timeout\":0}"), -32602,
        "85"),
    ERR(RQ(86, "read",
           "{\"handle\":\"%H\",\"nbytes\":1,\"encoding\":\"hex\\u0000\",\"timeout\":0}"),
        -32602, "86"),
    ERR(RQ(87, "write", "{\"handle\":\"%E\",\"data\":\"AA==\",\"encoding\":\"base64\\u0000x\"}"),
        -32602, "87"),
    ERR(RQ(88, "chunk",
           "{\"handle\":\"%H\",\"nbytes\":1,\"encoding\":\"utf8\\u0000\",\"timeout\":0}"),
        -32602, "88"),
    ERR(RQ(89, "shutdown", "{\"handle\":\"%H\",\"mode\":\"rw\\u0000\"}"), -32602, "89"),
    ERR(RQ(90, "shutdown", "{\"handle\":\"%H\",\"mode\":\"r\\u0000w\"}"), -32602, "90"),
    ERR(RQ(91, "wait", "{\"handle\":\"%H\",\"for\":\"readable\\u0000\",\"timeout\":0}"), -32602,
        "91"),
    ERR(RQ(92, "connect", "{\"host\":\"127.0.0.1\",\"port\":1,\"type\":\"stream\\u0000\"}"), -32602,
        "92"),
    ERR(RQ(93, "address", "{\"host\":\"127.0.0.1\",\"port\":1,\"family\":\"inet\\u00006\"}"),
        -32602, "93"),
    ERR(RQ(94, "starttls", "{\"handle\":\"%H\",\"role\":\"client\\u0000\",\"timeout\":0}"), -32602,
        "94"),
    ERR(RQ(95, "getsockopt", "{\"handle\":\"%H\",\"option\":\"tcp-nodelay\\u0000\"}"), -32602,
        "95"),
    ERR(RQ(96, "setsockopt", "{\"handle\":\"%H\",\"option\":\"so-rcvbuf\\u0000x\",\"value\":4096}"),
        -32602, "96"),
    ERR(RQ(97, "connect", "{\"host\":\"127.0.0.1\\u0000evil\",\"port\":80}"), -32602, "97"),
    ERR(RQ(98, "address", "{\"host\":\"localhost\\u0000.example\",\"port\":80}"), -32602, "98"),
    ERR(RQ(99, "connect", "{\"host\":\"127.0.0.1\",\"port\":\"80\\u0000\"}"), -32602, "99"),
    ERR(RQ(100, "connect", "{\"host\":\"127.0.0.1\",\"port\":\"http\\u0000x\"}"), -32602, "100"),
    ERR(RQ(101, "connect", "{\"path\":\"/tmp/x\\u0000y\"}"), -32602, "101"),
    ERR(RQ(102, "listen", "{\"path\":\"@a\\u0000b\"}"), -32602, "102"),
    ERR(RQ(103, "connect", "{\"host\":\"127.0.0.1\",\"port\":1,\"bindhost\":\"127.0.0.1\\u0000\"}"),
        -32602, "103"),
    ERR(RQ(104, "connect", "{\"host\":\"127.0.0.1\",\"port\":1,\"bindport\":\"0\\u0000\"}"), -32602,
        "104"),
    ERR(RQ(105, "tls-config", "{\"cafile\":\"/etc/ssl/certs/ca-certificates.crt\\u0000x\"}"),
        -32602, "105"),
    ERR(RQ(106, "tls-config", "{\"capath\":\"/etc/ssl/certs\\u0000\"}"), -32602, "106"),
    ERR(RQ(107, "starttls", "{\"handle\":\"%H\",\"servername\":\"a\\u0000b\",\"timeout\":0}"),
        -32602, "107"),
    ERR(RQ(108, "status", "{\"handle\":\"%H\\u0000\"}"), -32602, "108"),
    ERR(RQ(109, "close", "{\"handle\":\"\\u0000%H\"}"), -32602, "109"),
    ERR(RQ(110, "connect", "{\"address\":\"%H\\u0000\"}"), -32602, "110"),
    ERR(RQ(111, "read", "{\"handle\":\"%H\",\"nbytes\":1,\"timeout\":\"0\\u0000\"}"), -32602,
        "111"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":112,\"method\":\"\\u0000ping\"}", -32601, "112"),
    /* Data is bytes: a NUL in utf8 data is written like any other byte. */
    OKAY(RQ(113, "write", "{\"handle\":\"%E\",\"data\":\"a\\u0000b\",\"encoding\":\"utf8\"}"),
         "113"),
    /* The method is looked up before its params are judged (finding 15). */
    ERR("{\"jsonrpc\":\"2.0\",\"id\":120,\"method\":\"nosuch\",\"params\":[1,2]}", -32601, "120"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":121,\"method\":\"nosuch\",\"params\":[]}", -32601, "121"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":122,\"method\":\"nosuch\",\"params\":7}", -32601, "122"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":123,\"method\":\"nosuch\",\"params\":\"x\"}", -32601, "123"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":124,\"method\":\"nosuch\",\"params\":null}", -32601, "124"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":125,\"method\":\"nosuch\",\"params\":{\"handle\":5}}", -32601,
        "125"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":126,\"method\":\"Read\",\"params\":[\"%H\",1]}", -32601,
        "126"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":127,\"method\":\"read\",\"params\":[\"%H\",1]}", -32602,
        "127"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":128,\"method\":\"status\",\"params\":[\"%H\"]}", -32602,
        "128"),
    NOANSWER("{\"jsonrpc\":\"2.0\",\"method\":\"nosuch\",\"params\":[1]}"),
    NOANSWER("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"params\":[1]}"),
    BATCH("[{\"jsonrpc\":\"2.0\",\"id\":129,\"method\":\"nosuch\",\"params\":[1]},"
          "{\"jsonrpc\":\"2.0\",\"id\":130,\"method\":\"ping\",\"params\":[1]}]",
          "-32601:129,-32602:130"),
    /* More of the envelope. */
    ERR("{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"ping\"}", -32700, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":131,\"method\":\"ping\",\"jsonrpc\":\"2.0\"}", -32700, "null"),
    ERR(RQ(132, "ping", "{\"a\":1,\"a\":2}"), -32700, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":9223372036854775808,\"method\":\"ping\"}", -32700, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":1e400,\"method\":\"ping\"}", -32700, "null"),
    ERR("\xef\xbb\xbf{\"jsonrpc\":\"2.0\",\"id\":133,\"method\":\"ping\"}", -32700, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":134,\"method\":\"p\\ud800\"}", -32700, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":135,\"method\":\"ping\",\"params\":{\"x\":\"\t\"}}", -32700,
        "null"),
    ERR("[", -32700, "null"),
    ERR("[{}", -32700, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":136,\"method\":[]}", -32600, "136"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":137,\"method\":{}}", -32600, "137"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":138,\"method\":true}", -32600, "138"),
    ERR("{\"jsonrpc\":[\"2.0\"],\"id\":139,\"method\":\"ping\"}", -32600, "139"),
    ERR("{\"jsonrpc\":\"2.00\",\"id\":140,\"method\":\"ping\"}", -32600, "140"),
    ERR("{\"jsonrpc\":\"2\",\"id\":141,\"method\":\"ping\"}", -32600, "141"),
    ERR("{\"JSONRPC\":\"2.0\",\"id\":142,\"method\":\"ping\"}", -32600, "142"),
    OKAY(" \t{\"jsonrpc\":\"2.0\",\"id\":143,\"method\":\"ping\"} ", "143"),
    OKAY("{\"jsonrpc\":\"2.0\",\"id\":144,\"method\":\"ping\"}\r", "144"),
    OKAY("{\"method\":\"ping\",\"id\":145,\"jsonrpc\":\"2.0\"}", "145"),
    OKAY("{\"jsonrpc\":\"2.0\",\"id\":\"\",\"method\":\"ping\"}", "\"\""),
    OKAY("{\"jsonrpc\":\"2.0\",\"id\":\"a\\u0000b\",\"method\":\"ping\"}", "\"a\\u0000b\""),
    OKAY("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", "1.5"),
    OKAY("{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ping\"}", "0"),
    OKAY("{\"jsonrpc\":\"2.0\",\"id\":-9223372036854775808,\"method\":\"ping\"}",
         "-9223372036854775808"),
    BATCH("[[{\"jsonrpc\":\"2.0\",\"id\":146,\"method\":\"ping\"}]]", "-32600:null"),
    BATCH("[{\"jsonrpc\":\"2.0\",\"method\":\"ping\"},{\"jsonrpc\":\"2.0\",\"id\":147,"
          "\"method\":\"ping\"}]",
          "0:147"),
    BATCH("[{\"jsonrpc\":\"2.0\",\"id\":148,\"method\":\"read\",\"params\":{\"handle\":\"%H\","
          "\"nbytes\":\"all\\u0000\",\"timeout\":0}},{\"jsonrpc\":\"2.0\",\"id\":149,\"method\":"
          "\"ping\"}]",
          "-32602:148,0:149"),
    NOANSWER(
        "[{\"jsonrpc\":\"2.0\",\"method\":\"ping\"},{\"jsonrpc\":\"2.0\",\"method\":\"nosuch\"}]"),
    NOANSWER(""),
    NOANSWER("   \t"),
    /* Parameters of every kind of method. */
    ERR(RQ(170, "close", "{}"), -32602, "170"),
    ERR(RQ(171, "cancel", "{}"), -32602, "171"),
    ERR(RQ(172, "keep", "{\"handle\":true}"), -32602, "172"),
    ERR(RQ(173, "pending", "{\"handle\":[]}"), -32602, "173"),
    ERR(RQ(174, "flush", "{\"handle\":{}}"), -32602, "174"),
    ERR(RQ(175, "localname", "{\"handle\":null}"), -32602, "175"),
    ERR(RQ(176, "peername", "{}"), -32602, "176"),
    ERR(RQ(177, "accept", "{\"handle\":\"%H\",\"timeout\":{}}"), -32602, "177"),
    ERR(RQ(178, "accept", "{\"handle\":\"%H\",\"keep\":1}"), -32602, "178"),
    ERR(RQ(179, "listen", "{\"host\":\"127.0.0.1\",\"port\":0,\"backlog\":0}"), -32602, "179"),
    ERR(RQ(180, "listen", "{\"host\":\"127.0.0.1\",\"port\":0,\"backlog\":65536}"), -32602, "180"),
    ERR(RQ(181, "listen", "{\"host\":\"127.0.0.1\",\"port\":0,\"reuseaddr\":\"yes\"}"), -32602,
        "181"),
    ERR(RQ(182, "server", "{\"host\":\"127.0.0.1\",\"port\":0,\"backlog\":-1}"), -32602, "182"),
    ERR(RQ(183, "recv-from", "{\"handle\":\"%H\",\"nbytes\":0}"), -32602, "183"),
    ERR(RQ(184, "recv-from", "{\"handle\":\"%H\",\"peek\":\"no\"}"), -32602, "184"),
    ERR(RQ(185, "send-to", "{\"handle\":\"%H\",\"data\":\"\"}"), -32602, "185"),
    ERR(RQ(186, "send-to", "{\"handle\":\"%H\",\"dest\":{}}"), -32602, "186"),
    ERR(RQ(187, "setsockopt", "{\"handle\":\"%H\",\"option\":\"so-rcvbuf\"}"), -32602, "187"),
    ERR(RQ(188, "setsockopt", "{\"handle\":\"%H\",\"option\":\"so-nothing\",\"value\":1}"), -32602,
        "188"),
    ERR(RQ(189, "setsockopt", "{\"handle\":\"%H\",\"option\":\"so-rcvbuf\",\"value\":\"big\"}"),
        -32602, "189"),
    ERR(RQ(190, "getsockopt", "{\"handle\":\"%H\",\"option\":\"SO-RCVBUF\"}"), -32602, "190"),
    ERR(RQ(191, "getsockopt", "{\"handle\":\"%H\"}"), -32602, "191"),
    ERR(RQ(192, "pair", "{\"type\":\"seqpacket\"}"), -32602, "192"),
    ERR(RQ(193, "pair", "{\"keep\":\"true\"}"), -32602, "193"),
    ERR(RQ(194, "release", "{\"handle\":\"%H\",\"dup\":1}"), -32602, "194"),
    ERR(RQ(195, "assign", "{\"keep\":0}"), -32602, "195"),
    ERR(RQ(196, "assign", "{}"), -32602, "196"),
    ERR(RQ(197, "starttls", "{\"handle\":\"%H\",\"role\":\"nobody\"}"), -32602, "197"),
    ERR(RQ(198, "starttls", "{\"handle\":\"%H\",\"verify\":\"no\"}"), -32602, "198"),
    ERR(RQ(199, "tls-config", "{\"cafile\":5}"), -32602, "199"),
    ERR(RQ(200, "disconnect", "{}"), -32602, "200"),
    ERR(RQ(201, "address-unpack", "{\"handle\":7}"), -32602, "201"),
    ERR(RQ(202, "accept-loop", "{\"handle\":\"%H\",\"x\":1}"), -32602, "202"),
    ERR(RQ(203, "handles", "{\"all\":true}"), -32602, "203"),
    ERR(RQ(204, "stats", "[]"), -32602, "204"),
    ERR(RQ(205, "rpc.discover", "{\"x\":1}"), -32602, "205"),
    ERR(RQ(206, "local-addresses", "{\"family\":\"inet\"}"), -32602, "206"),
    ERR(RQ(207, "connect", "{}"), -32602, "207"),
    ERR(RQ(208, "connect", "{\"host\":\"127.0.0.1\"}"), -32602, "208"),
    ERR(RQ(209, "connect", "{\"host\":\"127.0.0.1\",\"port\":1,\"options\":[1]}"), -32602, "209"),
    ERR(RQ(210, "connect", "{\"host\":\"127.0.0.1\",\"port\":1,\"options\":{\"so-nothing\":1}}"),
        -32602, "210"),
    ERR(RQ(211, "connect", "{\"host\":\"127.0.0.1\",\"port\":1,\"tls\":5}"), -32602, "211"),
    ERR(RQ(212, "listen", "{\"path\":\"\"}"), -32602, "212"),
    ERR(RQ(213, "write", "{\"handle\":\"%H\",\"data\":\"A\"}"), -32602, "213"),
    ERR(RQ(214, "write", "{\"handle\":\"%H\",\"data\":\"AB==\"}"), -32602, "214"),
    ERR(RQ(215, "write", "{\"handle\":\"%H\",\"data\":\"AA=\"}"), -32602, "215"),
    ERR(RQ(216, "write", "{\"handle\":\"%H\",\"data\":\"AA AA\"}"), -32602, "216"),
    ERR(RQ(217, "write", "{\"handle\":\"%H\",\"data\":\"0g\",\"encoding\":\"hex\"}"), -32602,
        "217"),
    ERR(RQ(218, "write", "{\"handle\":\"%H\",\"data\":\"\",\"partial\":\"yes\"}"), -32602, "218"),
    ERR(RQ(219, "write", "{\"handle\":\"%H\",\"data\":\"\",\"oob\":1}"), -32602, "219"),
    ERR(RQ(220, "read", "{\"handle\":\"%H\",\"nbytes\":1,\"encoding\":\"BASE64\"}"), -32602, "220"),
    ERR(RQ(221, "read", "{\"handle\":\"%H\",\"nbytes\":true}"), -32602, "221"),
    ERR(RQ(222, "read", "{\"handle\":\"%H\",\"nbytes\":[1]}"), -32602, "222"),
    ERR(RQ(223, "read", "{\"handle\":\"%H\",\"nbytes\":\"\"}"), -32602, "223"),
    ERR(RQ(224, "read", "{\"handle\":\"%H\",\"nbytes\":\" all\"}"), -32602, "224"),
    /* The right handle for the wrong call. */
    ERR(RQ(230, "accept", "{\"handle\":\"%H\",\"timeout\":0}"), -32003, "230"),
    ERR(RQ(231, "recv-from", "{\"handle\":\"%H\",\"timeout\":0}"), -32003, "231"),
    ERR(RQ(232, "address-unpack", "{\"handle\":\"%H\"}"), -32003, "232"),
    ERR(RQ(233, "accept-loop", "{\"handle\":\"%H\"}"), -32003, "233"),
    ERR(RQ(234, "send-to",
           "{\"handle\":\"%H\",\"dest\":{\"host\":\"127.0.0.1\",\"port\":9},\"data\":\"\"}"),
        -32003, "234"),
    ERR(RQ(235, "connect", "{\"address\":\"%H\"}"), -32003, "235"),
    ERR(RQ(236, "wait", "{\"handle\":\"%H\",\"for\":\"resolved\",\"timeout\":0}"), -32003, "236"),
    /* Names no handle has. */
    ERR(RQ(240, "status", "{\"handle\":\"h0.fffffffffffffff\"}"), -32002, "240"),
    ERR(RQ(241, "status", "{\"handle\":\"h255.1\"}"), -32002, "241"),
    ERR(RQ(242, "status", "{\"handle\":\"h4096.1\"}"), -32002, "242"),
    ERR(RQ(243, "status", "{\"handle\":\"h0.0\"}"), -32002, "243"),
    ERR(RQ(244, "release", "{\"handle\":\"nope\"}"), -32002, "244"),
    ERR(RQ(245, "keep", "{\"handle\":\"%O\"}"), -32002, "245"),
    ERR(RQ(246, "write", "{\"handle\":\"%O\",\"data\":\"\"}"), -32002, "246"),
    ERR(RQ(247, "status", "{\"handle\":\"%H.\"}"), -32002, "247"),
    ERR(RQ(248, "status", "{\"handle\":\"%Hx\"}"), -32002, "248"),
    /* Writes whose data the lean path (proto/lean.h) takes out of the line,
     * or declines to: each answer is the one jansson's path gives. */
    ERR(RQ(400, "write", "{\"handle\":\"%H\",\"data\":\"QUJD\",\"data\":\"QUJD\"}"), -32700,
        "null"),
    ERR(RQ(401, "write", "{\"data\":\"QUJD\",\"handle\":\"%H\",\"encoding\":\"rot13\"}"), -32602,
        "401"),
    ERR(RQ(402, "write", "{\"handle\":\"nope\",\"data\":\"!!!!\"}"), -32002, "402"),
    ERR(RQ(403, "write", "{\"data\":\"QUJD\",\"handle\":\"%H\",\"extra\":1}"), -32602, "403"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":404,\"method\":\"write\",\"params\":{\"handle\":\"%H\","
        "\"data\":\"QUJD\"}",
        -32700, "null"),
    ERR(RQ(405, "write", "{\"handle\":\"%H\",\"data\":\"QUJD\"}") "x", -32700, "null"),
    ERR(RQ(406, "ping", "{\"data\":\"QUJD\"}"), -32602, "406"),
    ERR(RQ(407, "write", "{\"handle\":\"%H\",\"data\":\"QUJD\\u0000\"}"), -32602, "407"),
    ERR(RQ(408, "write", "{\"handle\":\"%H\",\"data\":\"QU\x01JD\"}"), -32700, "null"),
    ERR(RQ(409, "write", "{\"handle\":\"%H\",\"data\":\"QUJ\xc3\xa9\"}"), -32602, "409"),
    ERR(RQ(410, "write", "{\"handle\":\"%H\",\"data\":\"QUJ\xff\"}"), -32700, "null"),
    ERR(RQ(411, "write", "{\"handle\":\"%H\",\"data\":\"0g\",\"encoding\":\"hex\"}"), -32602,
        "411"),
    ERR(RQ(412, "write", "{\"handle\":\"%H\",\"data\":\"QUJD\",\"timeout\":-1}"), -32602, "412"),
    ERR("{\"jsonrpc\":\"2.0\",\"params\":{\"data\":\"QUJD\",\"handle\":\"%H\"},\"id\":413,"
        "\"method\":\"write\",\"params\":{}}",
        -32700, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":414,\"method\":\"write\",\"params\":{\"handle\":\"%H\","
        "\"d\\u0061ta\":\"!!!!\"}}",
        -32602, "414"),
    ERR(RQ(415, "send-to", "{\"handle\":\"%H\",\"dest\":\"nope\",\"data\":\"!!!!\"}"), -32003,
        "415"),
    /* An idle stream read with timeout 0: timeout, nothing consumed. */
    ERR(RQ(250, "read", "{\"handle\":\"%H\",\"nbytes\":1,\"timeout\":0}"), -32001, "250"),
};

/*
 * Cases that pass once the daemon changes they wait for are in; skipped
 * until then (PENDING_ENABLED, NETD_TEST_PENDING=1). What each group needs:
 */
static const struct row pending_rows[] = {
    /* dispatch_request() takes the method from netd_rpc_parse() (rq.m,
     * found by the whole name) instead of netd_method_find(rq.method). */
    ERR("{\"jsonrpc\":\"2.0\",\"id\":300,\"method\":\"ping\\u0000x\"}", -32601, "300"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":301,\"method\":\"stats\\u0000evil\"}", -32601, "301"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":302,\"method\":\"ping\\u0000\"}", -32601, "302"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":303,\"method\":\"handles\\u0000\",\"params\":{}}", -32601,
        "303"),
    BATCH("[{\"jsonrpc\":\"2.0\",\"id\":304,\"method\":\"ping\"},"
          "{\"jsonrpc\":\"2.0\",\"id\":305,\"method\":\"ping\\u0000x\"}]",
          "0:304,-32601:305"),
    /* Strings inside tls, dest and sockopt values are checked for NUL in
     * daemon/tls_ctx.c, datagram.c and sockopt.c (netd_json_text). */
    ERR(RQ(310, "connect",
           "{\"host\":\"127.0.0.1\",\"port\":1,\"tls\":{\"cafile\":"
           "\"/etc/ssl/certs/ca-certificates.crt\\u0000x\"}}"),
        -32602, "310"),
    ERR(RQ(311, "connect",
           "{\"host\":\"127.0.0.1\",\"port\":1,\"tls\":{\"servername\":\"a\\u0000b\"}}"),
        -32602, "311"),
    ERR(RQ(312, "send-to",
           "{\"handle\":\"%D\",\"dest\":{\"host\":\"127.0.0.1\\u0000x\",\"port\":9},\"data\":"
           "\"\"}"),
        -32602, "312"),
    ERR(RQ(313, "send-to", "{\"handle\":\"%D\",\"dest\":{\"path\":\"@a\\u0000b\"},\"data\":\"\"}"),
        -32602, "313"),
    ERR(RQ(314, "send-to", "{\"handle\":\"%D\",\"dest\":\"%D\\u0000\",\"data\":\"\"}"), -32602,
        "314"),
    ERR(RQ(315, "setsockopt",
           "{\"handle\":\"%D\",\"option\":\"ip-add-membership\",\"value\":\"224.0.0.1\\u0000x\"}"),
        -32602, "315"),
    /* daemon/handle.c reads names with netd_handle_parse(): only the
     * canonical spelling names a handle (finding 10). The close comes last:
     * today it closes %H. */
    ERR(RQ(320, "status", "{\"handle\":\"%Z\"}"), -32002, "320"),
    ERR(RQ(321, "status", "{\"handle\":\"%X\"}"), -32002, "321"),
    ERR(RQ(322, "status", "{\"handle\":\"%P\"}"), -32002, "322"),
    ERR(RQ(323, "status", "{\"handle\":\"%S\"}"), -32002, "323"),
    ERR(RQ(324, "status", "{\"handle\":\"%T\"}"), -32002, "324"),
    ERR(RQ(325, "read", "{\"handle\":\"%Z\",\"nbytes\":1,\"timeout\":0}"), -32002, "325"),
    ERR(RQ(326, "write", "{\"handle\":\"%P\",\"data\":\"\"}"), -32002, "326"),
    ERR(RQ(327, "connect", "{\"address\":\"%X\"}"), -32002, "327"),
    ERR(RQ(328, "close", "{\"handle\":\"%X\"}"), -32002, "328"),
};

#endif
