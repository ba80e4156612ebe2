'use strict';
/*
 * netd for Node.js: one control connection to netd, with no dependencies.
 *
 * Requests are JSON-RPC 2.0 lines; any number may be in flight, and each
 * answer settles the promise of its id, in whatever order netd answers.
 * Notifications are events: 'notification' (method, params) for every one,
 * and one named after the method ('accepted', 'closed', ...) with params.
 *
 * Node's net module cannot connect to a Linux abstract socket (@netd), so
 * netd must listen on a path for Node programs: `netd --socket PATH`.
 * Descriptor passing (release/assign) is not possible from Node either.
 */
const net = require('net');
const { EventEmitter } = require('events');

const codes = Object.freeze({
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  OS: -32000,
  TIMEOUT: -32001,
  UNKNOWN_HANDLE: -32002,
  WRONG_KIND: -32003,
  ABORTED: -32004,
  DENIED: -32005,
  LIMIT: -32006,
  RESOLVE: -32007,
  TLS: -32008,
});

/* Events of the client itself, which a notification of the same name must not fire. */
const OWN_EVENTS = new Set(['notification', 'connect', 'close', 'error']);

/** An error answer from netd: `code` (a number), `data` (or undefined), `method`. */
class NetdError extends Error {
  constructor(method, error) {
    super(`${method}: ${error.message} (${error.code})`);
    this.name = 'NetdError';
    this.code = error.code;
    this.data = error.data;
    this.method = method;
  }
}

class Client extends EventEmitter {
  /**
   * Connects to netd at socketPath (default $NETD_SOCKET): a filesystem
   * path. Calls made before the connection is up wait for it.
   */
  constructor(socketPath = process.env.NETD_SOCKET) {
    super();
    if (!socketPath) {
      throw new Error('netd: no socket path: pass one, or set NETD_SOCKET (netd --socket PATH)');
    }
    if (socketPath.startsWith('@')) {
      throw new Error(`netd: Node cannot connect to the abstract socket ${socketPath}; ` +
        'run netd with --socket PATH and pass that path');
    }
    this._pending = new Map(); // id -> {resolve, reject, method, timer}
    this._nextId = 1;
    this._partial = Buffer.alloc(0);
    this._closedError = null;
    this._sock = net.connect(socketPath);
    this._sock.on('connect', () => this.emit('connect'));
    this._sock.on('data', (chunk) => this._data(chunk));
    this._sock.on('error', (err) => this._end(err));
    this._sock.on('close', () => {
      this._end(new Error('netd closed the control connection'));
      this.emit('close');
    });
  }

  /**
   * Calls method with params (an object, or undefined for none). Resolves
   * with the result; rejects with a NetdError for an error answer, or an
   * Error when the connection fails or options.timeout (milliseconds of
   * waiting here) passes. netd's own `timeout` (seconds) goes in params.
   */
  call(method, params, options = {}) {
    if (this._closedError) {
      return Promise.reject(this._closedError);
    }
    const id = this._nextId++;
    const msg = { jsonrpc: '2.0', id, method };
    if (params !== undefined) {
      msg.params = params;
    }
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject, method, timer: null };
      if (options.timeout !== undefined) {
        entry.timer = setTimeout(() => {
          this._pending.delete(id);
          reject(new Error(`netd: no answer to ${method} within ${options.timeout} ms`));
        }, options.timeout);
      }
      this._pending.set(id, entry);
      this._sock.write(JSON.stringify(msg) + '\n');
    });
  }

  /** Closes the connection; resolves once it is closed. Handles not kept are closed by netd. */
  close() {
    return new Promise((resolve) => {
      if (this._sock.destroyed) {
        resolve();
        return;
      }
      this._sock.once('close', () => resolve());
      this._sock.end();
    });
  }

  _data(chunk) {
    let buf = this._partial.length ? Buffer.concat([this._partial, chunk]) : chunk;
    let nl;
    while ((nl = buf.indexOf(10)) >= 0) {
      const line = buf.subarray(0, nl).toString('utf8');
      buf = buf.subarray(nl + 1);
      let msg;
      try {
        msg = JSON.parse(line);
      } catch (e) {
        this._sock.destroy(new Error(`netd sent a line that is not JSON: ${line.slice(0, 200)}`));
        return;
      }
      this._message(msg);
    }
    this._partial = Buffer.from(buf);
  }

  _message(msg) {
    if (msg === null || typeof msg !== 'object') {
      return;
    }
    if (msg.method !== undefined && msg.id === undefined) {
      this.emit('notification', msg.method, msg.params);
      if (!OWN_EVENTS.has(msg.method)) {
        this.emit(msg.method, msg.params);
      }
      return;
    }
    const entry = this._pending.get(msg.id);
    if (!entry) {
      return; // its caller gave up waiting
    }
    this._pending.delete(msg.id);
    clearTimeout(entry.timer);
    if (msg.error !== undefined) {
      entry.reject(new NetdError(entry.method, msg.error));
    } else {
      entry.resolve(msg.result);
    }
  }

  /* The connection ended or failed: every waiting call fails with why. */
  _end(err) {
    if (!this._closedError) {
      this._closedError = err;
      if (this.listenerCount('error') > 0) {
        this.emit('error', err);
      }
    }
    for (const entry of this._pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(this._closedError);
    }
    this._pending.clear();
  }
}

module.exports = { Client, NetdError, codes };
