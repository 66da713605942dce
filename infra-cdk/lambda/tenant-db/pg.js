'use strict';
/**
 * A deliberately small PostgreSQL client for the tenant bootstrap custom
 * resource: TLS (required), SCRAM-SHA-256 / MD5 / cleartext authentication and
 * the simple query protocol, with text results only. It has no dependencies so
 * the Lambda asset is three plain files: no bundler, no Docker, and the same
 * asset hash on every machine.
 *
 * Protocol reference: PostgreSQL docs, "Frontend/Backend Protocol" (message
 * formats) and RFC 5802 / RFC 7677 (SCRAM-SHA-256).
 */
const crypto = require('node:crypto');
const net = require('node:net');
const tls = require('node:tls');

const SSL_REQUEST_CODE = 80877103;
const PROTOCOL_3_0 = 196608;

class PgError extends Error {
  constructor(fields) {
    super(`${fields.S || 'ERROR'} ${fields.C || ''}: ${fields.M || 'unknown error'}`);
    this.code = fields.C;
    this.fields = fields;
  }
}

function int32(n) {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

/** A frontend message: type byte, int32 length (including itself), body. */
function message(type, body) {
  return Buffer.concat([Buffer.from(type, 'ascii'), int32(body.length + 4), body]);
}

function cstr(s) {
  return Buffer.from(`${s}\0`, 'utf8');
}

function hmac(key, data) {
  return crypto.createHmac('sha256', key).update(data).digest();
}

function sha256(data) {
  return crypto.createHash('sha256').update(data).digest();
}

function xor(a, b) {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

/** Parses "k=v,k=v" SCRAM attribute lists. */
function scramAttributes(text) {
  const out = {};
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password. Sending it in
 * CREATE/ALTER ROLE ... PASSWORD keeps the clear-text password out of any
 * server log line.
 */
function scramVerifier(password, iterations = 4096, salt = crypto.randomBytes(16)) {
  const salted = crypto.pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const storedKey = sha256(hmac(salted, 'Client Key'));
  const serverKey = hmac(salted, 'Server Key');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** Buffers incoming bytes and hands out complete backend messages. */
class MessageReader {
  constructor(socket, timeoutMs) {
    this.buffer = Buffer.alloc(0);
    this.waiters = [];
    this.failure = null;
    this.timeoutMs = timeoutMs;
    this.attach(socket);
  }

  attach(socket) {
    this.socket = socket;
    socket.on('data', (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.flush();
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed by the server')));
  }

  fail(err) {
    if (!this.failure) this.failure = err;
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
  }

  flush() {
    while (this.waiters.length > 0) {
      const w = this.waiters[0];
      if (w.raw !== undefined) {
        if (this.buffer.length < w.raw) return;
        const bytes = this.buffer.subarray(0, w.raw);
        this.buffer = this.buffer.subarray(w.raw);
        this.waiters.shift().resolve(bytes);
        continue;
      }
      if (this.buffer.length < 5) return;
      const length = this.buffer.readInt32BE(1);
      if (this.buffer.length < 1 + length) return;
      const type = String.fromCharCode(this.buffer[0]);
      const body = this.buffer.subarray(5, 1 + length);
      this.buffer = this.buffer.subarray(1 + length);
      this.waiters.shift().resolve({ type, body });
    }
  }

  wait(waiter) {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for the database')), this.timeoutMs);
      this.waiters.push({
        ...waiter,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.flush();
    });
  }

  /** Next complete message ({type, body}). */
  next() {
    return this.wait({});
  }

  /** Exactly n raw bytes (used for the one-byte SSLRequest answer). */
  raw(n) {
    return this.wait({ raw: n });
  }
}

function errorFields(body) {
  const fields = {};
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const code = String.fromCharCode(body[i]);
    const end = body.indexOf(0, i + 1);
    fields[code] = body.toString('utf8', i + 1, end);
    i = end + 1;
  }
  return fields;
}

class Client {
  /**
   * @param {object} opts host, port, user, password, database,
   *   ssl ('require' | 'disable'; 'disable' exists only for local tests),
   *   ca (optional PEM), timeoutMs
   */
  constructor(opts) {
    this.opts = { port: 5432, database: 'postgres', ssl: 'require', timeoutMs: 20000, ...opts };
  }

  async connect() {
    const o = this.opts;
    const socket = net.connect({ host: o.host, port: o.port });
    socket.setNoDelay(true);
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    let reader = new MessageReader(socket, o.timeoutMs);
    if (o.ssl !== 'disable') {
      socket.write(Buffer.concat([int32(8), int32(SSL_REQUEST_CODE)]));
      const answer = (await reader.raw(1)).toString('ascii');
      if (answer !== 'S') throw new Error('the server refused TLS; refusing to send credentials in clear text');
      socket.removeAllListeners('data');
      socket.removeAllListeners('close');
      socket.removeAllListeners('error');
      const secure = tls.connect({ socket, servername: net.isIP(o.host) ? undefined : o.host, ca: o.ca, rejectUnauthorized: true });
      await new Promise((resolve, reject) => {
        secure.once('secureConnect', resolve);
        secure.once('error', reject);
      });
      reader = new MessageReader(secure, o.timeoutMs);
      this.socket = secure;
    } else {
      this.socket = socket;
    }
    this.reader = reader;

    const params = Buffer.concat([cstr('user'), cstr(o.user), cstr('database'), cstr(o.database), cstr('client_encoding'), cstr('UTF8'), Buffer.from([0])]);
    const startup = Buffer.concat([int32(params.length + 8), int32(PROTOCOL_3_0), params]);
    this.socket.write(startup);
    await this.authenticate();
    // Drain ParameterStatus / BackendKeyData until the first ReadyForQuery.
    for (;;) {
      const m = await this.reader.next();
      if (m.type === 'Z') return;
      if (m.type === 'E') throw new PgError(errorFields(m.body));
    }
  }

  async authenticate() {
    const o = this.opts;
    let scram = null;
    for (;;) {
      const m = await this.reader.next();
      if (m.type === 'E') throw new PgError(errorFields(m.body));
      if (m.type !== 'R') throw new Error(`unexpected message ${m.type} during authentication`);
      const code = m.body.readInt32BE(0);
      if (code === 0) return; // AuthenticationOk
      if (code === 3) {
        this.socket.write(message('p', cstr(o.password)));
      } else if (code === 5) {
        const salt = m.body.subarray(4, 8);
        const inner = crypto.createHash('md5').update(o.password + o.user).digest('hex');
        const outer = crypto.createHash('md5').update(Buffer.concat([Buffer.from(inner), salt])).digest('hex');
        this.socket.write(message('p', cstr(`md5${outer}`)));
      } else if (code === 10) {
        const mechanisms = m.body.toString('utf8', 4).split('\0').filter(Boolean);
        if (!mechanisms.includes('SCRAM-SHA-256')) throw new Error(`no supported SASL mechanism in ${mechanisms.join(',')}`);
        const nonce = crypto.randomBytes(18).toString('base64');
        const clientFirstBare = `n=,r=${nonce}`;
        const clientFirst = Buffer.from(`n,,${clientFirstBare}`, 'utf8');
        scram = { nonce, clientFirstBare };
        this.socket.write(message('p', Buffer.concat([cstr('SCRAM-SHA-256'), int32(clientFirst.length), clientFirst])));
      } else if (code === 11) {
        const serverFirst = m.body.toString('utf8', 4);
        const a = scramAttributes(serverFirst);
        if (!scram || !a.r || !a.r.startsWith(scram.nonce) || !a.s || !a.i) throw new Error('invalid SCRAM server-first message');
        const salted = crypto.pbkdf2Sync(o.password, Buffer.from(a.s, 'base64'), Number(a.i), 32, 'sha256');
        const clientKey = hmac(salted, 'Client Key');
        const withoutProof = `c=biws,r=${a.r}`;
        const authMessage = `${scram.clientFirstBare},${serverFirst},${withoutProof}`;
        const proof = xor(clientKey, hmac(sha256(clientKey), authMessage));
        scram.expectedServerSignature = hmac(hmac(salted, 'Server Key'), authMessage).toString('base64');
        this.socket.write(message('p', Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8')));
      } else if (code === 12) {
        const a = scramAttributes(m.body.toString('utf8', 4));
        if (!scram || a.v !== scram.expectedServerSignature) throw new Error('the server failed SCRAM verification');
      } else {
        throw new Error(`unsupported authentication request ${code}`);
      }
    }
  }

  /** Runs one statement with the simple query protocol; returns the rows as arrays of strings (null for NULL). */
  async query(sql) {
    this.socket.write(message('Q', cstr(sql)));
    const rows = [];
    let error = null;
    for (;;) {
      const m = await this.reader.next();
      if (m.type === 'D') {
        const count = m.body.readInt16BE(0);
        const row = [];
        let i = 2;
        for (let c = 0; c < count; c++) {
          const len = m.body.readInt32BE(i);
          i += 4;
          if (len < 0) {
            row.push(null);
          } else {
            row.push(m.body.toString('utf8', i, i + len));
            i += len;
          }
        }
        rows.push(row);
      } else if (m.type === 'E') {
        error = new PgError(errorFields(m.body));
      } else if (m.type === 'Z') {
        if (error) throw error;
        return rows;
      }
      // 'T' RowDescription, 'C' CommandComplete, 'N' NoticeResponse, 'I' EmptyQueryResponse: nothing to keep.
    }
  }

  async end() {
    if (!this.socket) return;
    try {
      this.socket.write(message('X', Buffer.alloc(0)));
    } catch {
      // The connection may already be gone; closing is best effort.
    }
    this.socket.end();
    this.socket.destroy();
  }
}

module.exports = { Client, PgError, scramVerifier };
