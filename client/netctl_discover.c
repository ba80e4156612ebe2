/*
 * netctl_discover.c - `methods` and `describe`: what the running netd
 * serves, read from its own OpenRPC document (rpc.discover) rather than
 * from anything compiled into netctl, so the answer is true of the netd
 * that is asked, whatever its version.
 *
 * Schemas are shown as short type expressions ("integer 0..65535 |
 * string"); references into components/schemas are followed to a fixed
 * depth, so a schema that refers to itself cannot loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netctl.h"

#define TYPE_DEPTH 4

/* A string being built in a fixed buffer; what does not fit is cut. */
struct text {
    char buf[1024];
    size_t len;
};

static void text_add(struct text *t, const char *s)
{
    int k = snprintf(t->buf + t->len, sizeof t->buf - t->len, "%s", s);
    if (k > 0)
        t->len += (size_t)k < sizeof t->buf - t->len ? (size_t)k : sizeof t->buf - t->len - 1;
}

/* The document's components/schemas/NAME for "#/components/schemas/NAME", or NULL. */
static const json_t *resolve_ref(const json_t *doc, const json_t *schema)
{
    const char *ref = json_string_value(json_object_get(schema, "$ref"));
    static const char prefix[] = "#/components/schemas/";
    if (!ref || strncmp(ref, prefix, sizeof prefix - 1) != 0)
        return NULL;
    const json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
    return json_object_get(schemas, ref + sizeof prefix - 1);
}

static void type_of(const json_t *doc, const json_t *schema, int depth, struct text *t);

/* "a | b | c" from the alternatives of oneOf or anyOf. */
static void type_alternatives(const json_t *doc, const json_t *list, int depth, struct text *t)
{
    size_t i;
    json_t *alt;
    json_array_foreach(list, i, alt)
    {
        if (i > 0)
            text_add(t, " | ");
        type_of(doc, alt, depth + 1, t);
    }
}

/* A bound of a range: integers in full (2^53 included), others as %g does. */
static const char *number(const json_t *v, char *out, size_t len)
{
    double d = json_number_value(v);
    if (json_is_integer(v) || (d == (double)(long long)d && d < 1e18 && d > -1e18))
        snprintf(out, len, "%lld", (long long)d);
    else
        snprintf(out, len, "%g", d);
    return out;
}

/* "integer 0..65535", "array of string", "object", or the type's names joined by "|". */
static void type_named(const json_t *doc, const json_t *schema, int depth, struct text *t)
{
    const json_t *type = json_object_get(schema, "type");
    if (json_is_array(type)) {
        size_t i;
        json_t *one;
        json_array_foreach(type, i, one)
        {
            text_add(t, i > 0 ? "|" : "");
            text_add(t, json_string_value(one));
        }
        return;
    }
    const char *name = json_string_value(type);
    text_add(t, name);
    const json_t *min = json_object_get(schema, "minimum"),
                 *max = json_object_get(schema, "maximum");
    char lo[32], hi[32], range[80];
    if (json_is_number(min) && json_is_number(max))
        snprintf(range, sizeof range, " %s..%s", number(min, lo, sizeof lo),
                 number(max, hi, sizeof hi));
    else if (json_is_number(min))
        snprintf(range, sizeof range, " >= %s", number(min, lo, sizeof lo));
    else if (json_is_number(max))
        snprintf(range, sizeof range, " <= %s", number(max, hi, sizeof hi));
    else
        range[0] = '\0';
    text_add(t, range);
    if (strcmp(name, "array") == 0 && json_object_get(schema, "items")) {
        text_add(t, " of ");
        type_of(doc, json_object_get(schema, "items"), depth + 1, t);
    }
}

static void type_of(const json_t *doc, const json_t *schema, int depth, struct text *t)
{
    const json_t *target = resolve_ref(doc, schema);
    if (target && depth < TYPE_DEPTH) {
        type_of(doc, target, depth + 1, t);
        return;
    }
    const json_t *e = json_object_get(schema, "enum");
    const json_t *alts = json_object_get(schema, "oneOf");
    if (!alts)
        alts = json_object_get(schema, "anyOf");
    const json_t *all = json_object_get(schema, "allOf");
    if (json_is_array(e)) {
        size_t i;
        json_t *v;
        json_array_foreach(e, i, v)
        {
            char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            text_add(t, i > 0 ? " | " : "");
            text_add(t, s ? s : "?");
            free(s);
        }
    } else if (json_is_array(alts) && depth < TYPE_DEPTH) {
        type_alternatives(doc, alts, depth, t);
    } else if (json_is_array(all) && json_array_size(all) == 1 && depth < TYPE_DEPTH) {
        type_of(doc, json_array_get(all, 0), depth + 1, t);
    } else if (json_object_get(schema, "type")) {
        type_named(doc, schema, depth, t);
    } else {
        text_add(t, target ? json_string_value(json_object_get(target, "title")) : "any");
    }
}

/* Prints @s word-wrapped to 78 columns, each line indented by @indent spaces. */
static void print_wrapped(int indent, const char *s)
{
    int col = 0;
    while (*s) {
        if (*s == '\n') {
            putchar('\n');
            col = 0;
            s++;
            continue;
        }
        size_t w = strcspn(s, " \n");
        if (col > indent && col + 1 + (int)w > 78) {
            putchar('\n');
            col = 0;
        }
        if (col == 0)
            col = printf("%*s", indent, "");
        else if (w > 0)
            col += printf(" ");
        col += printf("%.*s", (int)w, s);
        s += w;
        while (*s == ' ')
            s++;
    }
    if (col > 0)
        putchar('\n');
}

static int discover(struct netctl *n, json_t **doc)
{
    return netctl_call(n, "rpc.discover", NULL, doc);
}

int cmd_methods(struct netctl *n, const struct args *a)
{
    json_t *doc = NULL;
    int rc = discover(n, &doc);
    if (rc)
        return rc;
    bool plain = plain_tables(n);
    json_t *list = json_array();
    size_t i;
    json_t *m;
    if (!n->json && !plain)
        printf("%-16s %s\n", "METHOD", "SUMMARY");
    json_array_foreach(json_object_get(doc, "methods"), i, m)
    {
        const char *name = json_string_value(json_object_get(m, "name"));
        const char *summary = json_string_value(json_object_get(m, "summary"));
        if (!name)
            continue;
        if (!summary)
            summary = "";
        if (n->json)
            json_array_append_new(list, json_pack("{s:s,s:s}", "name", name, "summary", summary));
        else
            printf(plain ? "%s\t%s\n" : "%-16s %s\n", name, summary);
    }
    if (n->json)
        print_json(list);
    json_decref(list);
    json_decref(doc);
    return EXIT_OK;
}

/* "  name      TYPE, required" and its description under it. */
static void print_param(const json_t *doc, const char *name, const json_t *schema, bool required,
                        const char *description)
{
    struct text t = {.len = 0};
    type_of(doc, schema, 0, &t);
    /* A named schema says what the value is ("address: string (handle)"), unless the
     * parameter already has that name. */
    const char *title = json_string_value(json_object_get(resolve_ref(doc, schema), "title"));
    if (title && strcmp(title, name) != 0) {
        text_add(&t, " (");
        text_add(&t, title);
        text_add(&t, ")");
    }
    printf("  %-12s %s%s\n", name, t.buf, required ? ", required" : "");
    if (description && *description)
        print_wrapped(15, description);
}

/* The result's type, then its properties when it is an object that has them. */
static void print_result(const json_t *doc, const json_t *result)
{
    const json_t *schema = json_object_get(result, "schema");
    struct text t = {.len = 0};
    type_of(doc, schema, 0, &t);
    printf("\nResult: %s\n", t.buf);
    const char *description = json_string_value(json_object_get(result, "description"));
    if (description)
        print_wrapped(2, description);
    for (int d = 0; d < TYPE_DEPTH && resolve_ref(doc, schema); d++)
        schema = resolve_ref(doc, schema);
    const json_t *props = json_object_get(schema, "properties");
    const json_t *req = json_object_get(schema, "required");
    const char *key;
    json_t *p;
    json_object_foreach((json_t *)props, key, p)
    {
        bool required = false;
        size_t i;
        json_t *r;
        json_array_foreach(req, i, r)
        {
            required = required || strcmp(json_string_value(r), key) == 0;
        }
        print_param(doc, key, p, required, json_string_value(json_object_get(p, "description")));
    }
}

/* "  -32602 invalid params" for each of the method's errors (references followed). */
static void print_errors(const json_t *doc, const json_t *errors)
{
    printf("\nErrors:\n");
    if (json_array_size(errors) == 0)
        printf("  (none listed)\n");
    const json_t *table = json_object_get(json_object_get(doc, "components"), "errors");
    static const char prefix[] = "#/components/errors/";
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        const char *ref = json_string_value(json_object_get(e, "$ref"));
        if (ref && strncmp(ref, prefix, sizeof prefix - 1) == 0)
            e = json_object_get(table, ref + sizeof prefix - 1);
        printf("  %lld %s\n", (long long)json_integer_value(json_object_get(e, "code")),
               json_string_value(json_object_get(e, "message")));
    }
}

/* The method's first example: its params as one object, and the result. */
static void print_example(const json_t *m)
{
    const json_t *ex = json_array_get(json_object_get(m, "examples"), 0);
    if (!ex)
        return;
    json_t *params = json_object();
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(ex, "params"), i, p)
    {
        json_object_set(params, json_string_value(json_object_get(p, "name")),
                        json_object_get(p, "value"));
    }
    char *in = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
    char *out = json_dumps(json_object_get(json_object_get(ex, "result"), "value"),
                           JSON_COMPACT | JSON_ENCODE_ANY);
    printf("\nExample (%s):\n  params: %s\n  result: %s\n",
           json_string_value(json_object_get(ex, "name")), in ? in : "?", out ? out : "?");
    free(in);
    free(out);
    json_decref(params);
}

static void print_method(const json_t *doc, const json_t *m)
{
    const char *summary = json_string_value(json_object_get(m, "summary"));
    printf("%s: %s\n", json_string_value(json_object_get(m, "name")), summary ? summary : "");
    const char *description = json_string_value(json_object_get(m, "description"));
    if (description) {
        putchar('\n');
        print_wrapped(2, description);
    }
    printf("\nParams (by name):\n");
    const json_t *params = json_object_get(m, "params");
    if (json_array_size(params) == 0)
        printf("  (none)\n");
    size_t i;
    json_t *p;
    json_array_foreach(params, i, p)
    {
        print_param(doc, json_string_value(json_object_get(p, "name")),
                    json_object_get(p, "schema"), json_is_true(json_object_get(p, "required")),
                    json_string_value(json_object_get(p, "description")));
    }
    print_result(doc, json_object_get(m, "result"));
    print_errors(doc, json_object_get(m, "errors"));
    print_example(m);
}

/* A notification netd sends: its params are described as a method's are. */
static void print_notification(const json_t *doc, const json_t *note)
{
    printf("%s: a notification netd sends (no answer is expected)\n\n",
           json_string_value(json_object_get(note, "name")));
    print_wrapped(2, json_string_value(json_object_get(note, "description")));
    printf("\nParams (by name):\n");
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(note, "params"), i, p)
    {
        print_param(doc, json_string_value(json_object_get(p, "name")),
                    json_object_get(p, "schema"), json_is_true(json_object_get(p, "required")),
                    json_string_value(json_object_get(p, "description")));
    }
}

/* The element of array @list whose "name" is @name, or NULL. */
static json_t *find_named(const json_t *list, const char *name)
{
    size_t i;
    json_t *m;
    json_array_foreach(list, i, m)
    {
        const char *mine = json_string_value(json_object_get(m, "name"));
        if (mine && strcmp(mine, name) == 0)
            return m;
    }
    return NULL;
}

int cmd_describe(struct netctl *n, const struct args *a)
{
    json_t *doc = NULL;
    int rc = discover(n, &doc);
    if (rc)
        return rc;
    json_t *m = find_named(json_object_get(doc, "methods"), a->argv[0]);
    json_t *note = m ? NULL : find_named(json_object_get(doc, "x-notifications"), a->argv[0]);
    if (!m && !note)
        rc = fail(n, "this netd has no method \"%s\"; `netctl methods` lists them", a->argv[0]);
    else if (n->json)
        print_json(m ? m : note);
    else if (m)
        print_method(doc, m);
    else
        print_notification(doc, note);
    json_decref(doc);
    return rc;
}
