"""A JSON Schema checker for the keywords proto/netd.openrpc.json uses.

Standard library only. `errors(doc, schema, value)` returns a list of
problems (empty when @value matches @schema); "$ref"s are local to @doc
("#/components/schemas/Handle"). A keyword it does not know raises
ValueError, so a schema can never pass because a rule was skipped.
"""

import re

ANNOTATIONS = {"title", "description", "default", "examples"}
KNOWN = ANNOTATIONS | {
    "$ref", "type", "properties", "required", "additionalProperties", "items", "enum", "const",
    "oneOf", "anyOf", "allOf", "minimum", "maximum", "minLength", "maxLength", "minItems",
    "maxItems", "pattern"}


def resolve(doc, ref):
    if not ref.startswith("#/"):
        raise ValueError("not a local $ref: %s" % ref)
    at = doc
    for part in ref[2:].split("/"):
        at = at[part]
    return at


def is_type(value, t):
    if t == "null":
        return value is None
    if t == "boolean":
        return isinstance(value, bool)
    if t == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or \
            (isinstance(value, float) and value.is_integer())
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "string":
        return isinstance(value, str)
    if t == "array":
        return isinstance(value, list)
    if t == "object":
        return isinstance(value, dict)
    raise ValueError("unknown type %r" % t)


def errors(doc, schema, value, path="$"):
    if schema is True or schema == {}:
        return []
    if schema is False:
        return ["%s: nothing is allowed here" % path]
    unknown = set(schema) - KNOWN
    if unknown:
        raise ValueError("%s: schema keywords this checker does not know: %s" % (path, unknown))
    out = []
    if "$ref" in schema:
        out += errors(doc, resolve(doc, schema["$ref"]), value, path)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(is_type(value, t) for t in types):
            return out + ["%s: %r is not of type %s" % (path, value, "|".join(types))]
    if "enum" in schema and value not in schema["enum"]:
        out.append("%s: %r is not one of %r" % (path, value, schema["enum"]))
    if "const" in schema and value != schema["const"]:
        out.append("%s: %r is not %r" % (path, value, schema["const"]))
    if is_type(value, "number") and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append("%s: %r < %r" % (path, value, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            out.append("%s: %r > %r" % (path, value, schema["maximum"]))
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append("%s: %r is shorter than %d" % (path, value, schema["minLength"]))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append("%s: %r is longer than %d" % (path, value, schema["maxLength"]))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append("%s: %r does not match %r" % (path, value, schema["pattern"]))
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.append("%s: fewer than %d items" % (path, schema["minItems"]))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append("%s: more than %d items" % (path, schema["maxItems"]))
        if "items" in schema:
            for i, v in enumerate(value):
                out += errors(doc, schema["items"], v, "%s[%d]" % (path, i))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in value:
                out.append("%s: lacks %r" % (path, k))
        for k, v in value.items():
            if k in props:
                out += errors(doc, props[k], v, "%s.%s" % (path, k))
            elif "additionalProperties" in schema:
                out += errors(doc, schema["additionalProperties"], v, "%s.%s" % (path, k))
    for sub in schema.get("allOf", []):
        out += errors(doc, sub, value, path)
    if "anyOf" in schema:
        if all(errors(doc, sub, value, path) for sub in schema["anyOf"]):
            out.append("%s: %r matches none of anyOf" % (path, value))
    if "oneOf" in schema:
        n = sum(1 for sub in schema["oneOf"] if not errors(doc, sub, value, path))
        if n != 1:
            out.append("%s: %r matches %d branches of oneOf, not 1" % (path, value, n))
    return out
