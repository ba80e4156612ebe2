'use strict';
/*
 * The Node package in clients/node against a real netd listening on a path
 * (Node cannot reach an abstract socket) and a real TCP echo server of the
 * test's own: ping, connect and bytes both ways (text and binary), error
 * answers as NetdError, answers out of order, the `accepted` and `closed`
 * notifications as events, and close(). ctest runs it with NETD_BIN set.
 */
const assert = require('assert/strict');
const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const { Client, NetdError, codes } = require(path.join(__dirname, '..', '..', 'clients', 'node'));

const TIMEOUT_MS = 10000;

function within(promise, what, ms = TIMEOUT_MS) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/* netd on a fresh path; resolves once it accepts connections. */
async function startNetd(dir) {
  const sockPath = path.join(dir, 'netd.sock');
  const proc = spawn(process.env.NETD_BIN, ['--socket', sockPath, '--log-level', 'warn'],
    { stdio: ['ignore', 'inherit', 'inherit'] });
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    if (proc.exitCode !== null) {
      throw new Error(`netd exited with ${proc.exitCode} before it listened`);
    }
    const ok = await new Promise((resolve) => {
      const s = net.connect(sockPath);
      s.on('connect', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) {
      return { proc, sockPath };
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`netd did not listen on ${sockPath}`);
    }
    await sleep(50);
  }
}

function stopNetd(proc) {
  return within(new Promise((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
    proc.kill('SIGTERM');
  }), 'netd stopping');
}

/* A TCP echo server on 127.0.0.1; counts the connections that ended. */
function echoServer() {
  const server = net.createServer((sock) => {
    sock.on('data', (d) => sock.write(d));
    sock.on('end', () => sock.end());
    sock.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/* Reads from handle h through netd until n bytes came; returns them as a Buffer. */
async function readExactly(c, h, n) {
  const parts = [];
  let got = 0;
  while (got < n) {
    const res = await c.call('read', { handle: h, nbytes: n - got, timeout: 10 });
    assert.equal(res.eof, false, `eof after ${got} of ${n} bytes`);
    const b = Buffer.from(res.data, 'base64');
    parts.push(b);
    got += b.length;
  }
  return Buffer.concat(parts);
}

async function testEcho(c, port) {
  const h = (await c.call('connect', { host: '127.0.0.1', port })).handle;
  assert.equal(typeof h, 'string');
  const text = 'hello from node \u2713\n';
  const res = await c.call('write', { handle: h, data: text, encoding: 'utf8' });
  assert.deepEqual(res, { written: Buffer.byteLength(text) });
  assert.equal((await readExactly(c, h, Buffer.byteLength(text))).toString('utf8'), text);
  const binary = Buffer.from([...Array(256).keys()]);
  await c.call('write', { handle: h, data: binary.toString('base64') });
  assert.deepEqual(await readExactly(c, h, 256), binary);
  return h;
}

async function testErrors(c) {
  await assert.rejects(c.call('read', { handle: 'h-none', nbytes: 1 }), (e) => {
    assert.ok(e instanceof NetdError && e instanceof Error);
    assert.equal(e.code, codes.UNKNOWN_HANDLE);
    assert.equal(e.method, 'read');
    assert.ok(e.message.includes('unknown handle'), e.message);
    return true;
  });
  await assert.rejects(c.call('read', { handle: 'h-none', nbytes: 0 }), (e) => {
    assert.equal(e.code, codes.INVALID_PARAMS);
    assert.ok(e.message.includes('nbytes'), e.message);
    return true;
  });
  await assert.rejects(c.call('no-such-method'), { code: codes.METHOD_NOT_FOUND });
  // An error with data: the errno of a refused connection.
  const closed = net.createServer();
  await new Promise((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = closed.address().port;
  await new Promise((resolve) => closed.close(resolve));
  await assert.rejects(c.call('connect', { host: '127.0.0.1', port }), (e) => {
    assert.equal(e.code, codes.OS);
    assert.deepEqual(e.data, { errno: 'ECONNREFUSED' });
    return true;
  });
}

async function testOutOfOrder(c) {
  const [a, b] = (await c.call('pair')).handles;
  let readDone = false;
  const read = c.call('read', { handle: b, nbytes: 4, timeout: 10, encoding: 'utf8' })
    .then((r) => { readDone = true; return r; });
  assert.deepEqual(await c.call('ping'), {});
  assert.equal(readDone, false, 'the read answered before anything was written');
  await c.call('write', { handle: a, data: 'late', encoding: 'utf8' });
  assert.equal((await within(read, 'the waiting read')).data, 'late');
  await c.call('close', { handle: a });
  await c.call('close', { handle: b });
}

async function testNotifications(c) {
  const lst = (await c.call('server', { host: '127.0.0.1', port: 0 })).handle;
  const port = (await c.call('localname', { handle: lst })).port;
  const seen = [];
  c.on('notification', (method, params) => seen.push(method));
  const accepted = new Promise((resolve) => c.once('accepted', resolve));
  const peer = net.connect(port, '127.0.0.1');
  await within(new Promise((resolve) => peer.on('connect', resolve)), 'peer connect');
  const note = await within(accepted, 'accepted event');
  assert.equal(note.listener, lst);
  assert.equal(note.peer.port, peer.localPort);
  peer.write('peer says');
  assert.equal((await readExactly(c, note.handle, 9)).toString(), 'peer says');
  const closed = new Promise((resolve) => c.once('closed', resolve));
  peer.end();
  assert.deepEqual(await within(closed, 'closed event'), { handle: note.handle, reason: 'eof' });
  assert.deepEqual(seen, ['accepted', 'closed']);
  await c.call('close', { handle: note.handle });
  await c.call('close', { handle: lst });
}

async function main() {
  if (!process.env.NETD_BIN) {
    console.error('FAIL: NETD_BIN is not set (ctest sets it)');
    process.exit(2);
  }
  assert.throws(() => new Client('@netd'), /abstract socket/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netd-node-'));
  const echo = await echoServer();
  const { proc, sockPath } = await startNetd(dir);
  try {
    const c = new Client(sockPath);
    assert.deepEqual(await within(c.call('ping'), 'ping'), {});
    const h = await testEcho(c, echo.address().port);
    await testErrors(c);
    await testOutOfOrder(c);
    await testNotifications(c);
    await c.call('close', { handle: h });
    // A call given up after its timeout: rejected, and later answers still arrive.
    const [a, b] = (await c.call('pair')).handles;
    await assert.rejects(c.call('read', { handle: b, nbytes: 1, timeout: 5 }, { timeout: 50 }),
      /no answer to read within 50 ms/);
    // netd still holds that read; cancelling it answers it, and that answer is dropped.
    assert.deepEqual(await c.call('cancel', { handle: b }), { cancelled: 1 });
    assert.deepEqual(await c.call('ping'), {});
    await c.call('close', { handle: a });
    await c.call('close', { handle: b });
    await within(c.close(), 'close');
    await assert.rejects(c.call('ping'), /closed/);
    // The default socket is $NETD_SOCKET.
    process.env.NETD_SOCKET = sockPath;
    const d = new Client();
    assert.deepEqual(await within(d.call('ping'), 'ping via NETD_SOCKET'), {});
    await d.close();
  } finally {
    const { code, signal } = await stopNetd(proc);
    echo.close();
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, `netd exit status after SIGTERM (signal ${signal})`);
  }
  console.log('ok: ping, connect/write/read, errors, out of order, accepted/closed events, close');
}

main().catch((e) => {
  console.error(`FAIL: ${e.stack || e}`);
  process.exit(1);
});
