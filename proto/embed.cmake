# Turns the file IN into a C source OUT defining netd_openrpc_json[]
# (NUL-terminated) and netd_openrpc_json_len.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE ${OUT} "/* Generated from proto/netd.openrpc.json; do not edit. */\n#include <stddef.h>\n")
file(APPEND ${OUT} "const char netd_openrpc_json[] = {${body}0x00};\n")
file(APPEND ${OUT} "const size_t netd_openrpc_json_len = ${len};\n")
