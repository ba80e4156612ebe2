#!/usr/bin/env node
// check.js - checks the OpenRPC document (proto/netd.openrpc.json, or the
// file named as the first argument) two ways:
//   1. against the OpenRPC meta-schema of @open-rpc/meta-schema, with ajv;
//   2. every schema in it (components, each method's params and result, each
//      notification's params) compiled by ajv in strict mode, which refuses
//      unknown keywords, ignored ones and loose types.
// Prints every problem and exits 1 if there is one; 0 and a summary line
// otherwise. Run by ctest (tools/openrpc/run-check.sh) after `npm ci` here.
"use strict";

const fs = require("fs");
const path = require("path");
const Ajv = require("ajv");
const { openrpcDocument } = require("@open-rpc/meta-schema");
const jsonSchemaMeta = require("@json-schema-tools/meta-schema").default;

const file = process.argv[2] || path.join(__dirname, "..", "..", "proto", "netd.openrpc.json");
const doc = JSON.parse(fs.readFileSync(file, "utf8"));
const problems = [];

// 1. The meta-schema, and the JSON Schema meta-schema it refers to for the
// schemas inside a document. Both name as "$schema" a meta-schema of their
// own that ajv does not carry; they are written in draft-07, which ajv
// speaks. (Their "uri" formats are not checked: ajv has no formats.)
function unnamed(s) {
  const c = JSON.parse(JSON.stringify(s));
  delete c.$schema;
  return c;
}
const loose = new Ajv({ strict: false, allErrors: true, validateFormats: false });
loose.addSchema(unnamed(jsonSchemaMeta), "https://meta.json-schema.tools");
const validateDoc = loose.compile(unnamed(openrpcDocument));
if (!validateDoc(doc)) {
  for (const e of validateDoc.errors) {
    problems.push(`meta-schema: ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
  }
}

// 2. Every schema, strict. Local references (#/components/schemas/X) become
// references to each component added on its own.
const BASE = "https://netd.invalid/schemas/";
function rebase(v) {
  if (Array.isArray(v)) return v.map(rebase);
  if (v && typeof v === "object") {
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === "$ref" && typeof x === "string" && x.startsWith("#/components/schemas/")) {
        out[k] = BASE + x.slice("#/components/schemas/".length);
      } else {
        out[k] = rebase(x);
      }
    }
    return out;
  }
  return v;
}

const strict = new Ajv({ strict: true, allErrors: true });
const schemas = (doc.components && doc.components.schemas) || {};
for (const [name, s] of Object.entries(schemas)) {
  try {
    strict.addSchema(rebase(s), BASE + name);
  } catch (e) {
    problems.push(`components.schemas.${name}: ${e.message}`);
  }
}

function compile(where, s) {
  try {
    strict.compile(rebase(s));
  } catch (e) {
    problems.push(`${where}: ${e.message}`);
  }
}

let count = 0;
for (const name of Object.keys(schemas)) {
  compile(`components.schemas.${name}`, { $ref: BASE + name });
  count++;
}
for (const m of doc.methods || []) {
  for (const p of m.params || []) {
    compile(`${m.name}: param ${p.name}`, p.schema);
    count++;
  }
  if (m.result) {
    compile(`${m.name}: result`, m.result.schema);
    count++;
  }
}
for (const n of doc["x-notifications"] || []) {
  for (const p of n.params || []) {
    compile(`notification ${n.name}: param ${p.name}`, p.schema);
    count++;
  }
}

if (problems.length) {
  for (const p of problems) console.error(`FAIL: ${p}`);
  process.exit(1);
}
console.log(`ok: ${path.basename(file)} passes the OpenRPC meta-schema; ${count} schemas compile in ajv's strict mode`);
