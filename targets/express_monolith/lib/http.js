// HTTP plumbing, the rules of targets/common/http.py: the {"error","message"} shape, input
// validators naming the field, JSON bodies read under a size limit (413) and a deadline (408),
// canonical path ids, and a /health probe shared by concurrent callers.
import { parse as parseLossless } from 'lossless-json';

export const MAX_BIGINT = 2n ** 63n - 1n;
export const STATUS_CODES = {
  400: 'invalid',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'timeout',
  409: 'conflict',
  413: 'too_large',
  500: 'internal',
  503: 'unavailable',
};
const REASONS = { 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed' };

/** An error answer: throw it from a handler, errorHandler renders it. */
export class ApiError extends Error {
  constructor(status, code, message, { close = false } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.close = close; // close the connection after answering
  }
}

/** Bad input: 400 `invalid` with a message naming the field. */
export class ValidationError extends ApiError {
  constructor(message) {
    super(400, 'invalid', message);
  }
}

/** A JSON number with a fraction or an exponent (Python parses it to a float: never an integer). */
export class JsonFloat {
  constructor(text) {
    this.text = text;
  }
}

const INTEGER_TEXT = /^-?(0|[1-9][0-9]*)$/;

function parseNumber(text) {
  return INTEGER_TEXT.test(text) ? BigInt(text) : new JsonFloat(text);
}

function wellFormed(value) {
  if (typeof value === 'string') return value.isWellFormed();
  if (Array.isArray(value)) return value.every(wellFormed);
  if (value !== null && typeof value === 'object' && !(value instanceof JsonFloat)) {
    return Object.entries(value).every(([key, item]) => key.isWellFormed() && wellFormed(item));
  }
  return true;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * `body` (a Buffer) as a JSON object, integers as BigInt and other numbers as JsonFloat, so that
 * `1.0` is no integer (as for orjson); ValidationError unless it is strict UTF-8 JSON object text
 * (no BOM, no lone surrogate escapes).
 */
export function parseJsonObject(body) {
  if (!body || body.length === 0) throw new ValidationError('request body must be a JSON object');
  let data;
  try {
    data = parseLossless(UTF8.decode(body), null, parseNumber);
  } catch {
    throw new ValidationError('request body is not valid JSON');
  }
  if (!wellFormed(data)) throw new ValidationError('request body is not valid JSON');
  if (data === null || typeof data !== 'object' || Array.isArray(data) || data instanceof JsonFloat) {
    throw new ValidationError('request body must be a JSON object');
  }
  return data;
}

const has = (obj, field) => Object.prototype.hasOwnProperty.call(obj, field);
const codePoints = (text) => {
  let count = 0;
  for (const _ of text) count += 1; // eslint-disable-line no-unused-vars
  return count;
};

/** obj[field] as a BigInt in minimum..maximum (booleans and non-integral numbers rejected). */
export function getInt(obj, field, minimum, maximum) {
  if (!has(obj, field)) throw new ValidationError(`${field} is required`);
  const value = obj[field];
  if (typeof value !== 'bigint') throw new ValidationError(`${field} must be an integer`);
  if (value < BigInt(minimum) || value > BigInt(maximum)) {
    throw new ValidationError(`${field} must be between ${minimum} and ${maximum}`);
  }
  return value;
}

/** obj[field] as a string of minLength..maxLength characters (code points), no NUL. */
export function getStr(obj, field, minLength, maxLength, pattern = null) {
  if (!has(obj, field)) throw new ValidationError(`${field} is required`);
  const value = obj[field];
  if (typeof value !== 'string') throw new ValidationError(`${field} must be a string`);
  const length = codePoints(value);
  if (length < minLength || length > maxLength) {
    throw new ValidationError(`${field} must be ${minLength} to ${maxLength} characters long`);
  }
  if (value.includes('\u0000')) throw new ValidationError(`${field} must not contain NUL characters`);
  if (pattern !== null && !pattern.test(value)) {
    throw new ValidationError(`${field} has characters that are not allowed`);
  }
  return value;
}

/** obj[field] as an array of minItems..maxItems elements. */
export function getList(obj, field, minItems, maxItems) {
  if (!has(obj, field)) throw new ValidationError(`${field} is required`);
  const value = obj[field];
  if (!Array.isArray(value)) throw new ValidationError(`${field} must be an array`);
  if (value.length < minItems || value.length > maxItems) {
    throw new ValidationError(`${field} must have ${minItems} to ${maxItems} elements`);
  }
  return value;
}

/** Query parameter `name` (its first value) as a Number in minimum..maximum; fallback if absent. */
export function queryInt(query, name, fallback, minimum, maximum) {
  const raw = query.get(name);
  if (raw === null) return fallback;
  if (!/^-?[0-9]+$/.test(raw)) throw new ValidationError(`${name} must be an integer`);
  const value = BigInt(raw);
  if (value < BigInt(minimum) || value > BigInt(maximum)) {
    throw new ValidationError(`${name} must be between ${minimum} and ${maximum}`);
  }
  return Number(value);
}

const CANONICAL_ID = /^[1-9][0-9]{0,18}$/;
const INT_SPELLING = /^[ \t\n\r\f\v]*[+-]?[0-9]+[ \t\n\r\f\v]*$/;

/** `raw` as a canonical id (BigInt); 404 for other spellings of integers, 400 for non-integers. */
export function parsePathId(raw, name) {
  if (CANONICAL_ID.test(raw)) {
    const value = BigInt(raw);
    if (value <= MAX_BIGINT) return value;
  }
  if (INT_SPELLING.test(raw)) throw new ApiError(404, 'not_found', `${name} ${raw} not found`);
  throw new ValidationError(`${name} must be an integer`);
}

const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** `raw` if it is an order id in its canonical spelling (lowercase, hyphenated), else null. */
export function parseOrderId(raw) {
  return CANONICAL_UUID.test(raw) ? raw : null;
}

/** Send the contract's error shape. */
export function sendError(res, status, code, message, { close = false } = {}) {
  if (close) res.set('Connection', 'close');
  res.status(status).json({ error: code, message });
}

/**
 * Middleware reading every request body into `req.rawBody` (a Buffer) before routing: at most
 * `maxBytes` (413 `too_large`, connection closed) and within `timeoutS` seconds of the head
 * (408 `timeout`, connection closed), so no handler waits on a trickling client.
 */
export function bodyReader(maxBytes, timeoutS) {
  return (req, res, next) => {
    const length = req.headers['content-length'];
    if (!req.headers['transfer-encoding'] && (length === undefined || Number(length) === 0)) {
      req.rawBody = Buffer.alloc(0);
      return next();
    }
    const tooLarge = (size) =>
      new ApiError(413, 'too_large', `Maximum request body size ${maxBytes} exceeded, actual body size ${size}`, {
        close: true,
      });
    if (length !== undefined && Number(length) > maxBytes) return next(tooLarge(Number(length)));
    const chunks = [];
    let size = 0;
    let done = false;
    const finish = (error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.removeListener('data', onData);
      if (error) {
        req.pause();
        return next(error);
      }
      req.rawBody = Buffer.concat(chunks, size);
      return next();
    };
    const onData = (chunk) => {
      size += chunk.length;
      if (size > maxBytes) return finish(tooLarge(size));
      chunks.push(chunk);
    };
    const timer = setTimeout(
      () => finish(new ApiError(408, 'timeout', `request body not received within ${timeoutS} s`, { close: true })),
      timeoutS * 1000,
    );
    req.on('data', onData);
    req.once('end', () => finish(null));
    req.once('error', (error) => finish(error));
  };
}

// A dependency did not answer (the client may retry): 503, not 500. Node socket errors,
// PostgreSQL SQLSTATE class 08 (connection exception), 57P01-57P03 (shutdown, cannot connect
// now), 53300 (too many connections) and the pool's own connection failures.
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH',
  'ENOTFOUND', 'EAI_AGAIN', '57P01', '57P02', '57P03', '53300']);
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|not queryable|Query read timeout/;

/** Whether `error` means a dependency (the database) is unreachable. */
export function isUnavailable(error) {
  const code = typeof error?.code === 'string' ? error.code : '';
  return UNAVAILABLE_CODES.has(code) || code.startsWith('08') || UNAVAILABLE_MESSAGES.test(String(error?.message));
}

/** The last middleware: every error as {"error","message"}; a 500 is logged with its stack. */
export function errorHandler(log) {
  // eslint-disable-next-line no-unused-vars
  return (error, req, res, next) => {
    if (error instanceof ApiError) {
      return sendError(res, error.status, error.code, error.message, { close: error.close });
    }
    const status = Number(error?.status ?? error?.statusCode);
    if (status >= 400 && status < 500) { // e.g. a malformed %-escape in a path (Express: 400)
      return sendError(res, status, STATUS_CODES[status] ?? 'error', REASONS[status] ?? 'error');
    }
    if (req.socket.destroyed || req.socket.writableEnded) {
      log.info(`client disconnected during ${req.method} ${req.path}`);
      return undefined;
    }
    if (isUnavailable(error)) {
      log.warning(`dependency unavailable on ${req.method} ${req.path}: ${error.code ?? ''} ${error.message}`);
      return sendError(res, 503, 'unavailable', 'a dependency is unavailable; try again');
    }
    log.error(`unhandled error on ${req.method} ${req.path}: ${error?.stack ?? error}`);
    return sendError(res, 500, 'internal', 'internal server error');
  };
}

/**
 * GET /health over `checks` (async functions throwing when a dependency is down): one probe in
 * flight at a time, shared by every request arriving meanwhile, so health requests never multiply
 * the load on the database (targets/common/http.py HealthProbe with ok_ttl_s=0).
 */
export class HealthProbe {
  constructor(...checks) {
    this.checks = checks;
    this.probes = 0; // probes started so far
    this.inFlight = null;
  }

  async probe() {
    for (const check of this.checks) {
      try {
        await check();
      } catch (error) {
        return `${check.name || 'dependency'}: ${error?.constructor?.name ?? 'Error'}: ${error?.message ?? error}`;
      }
    }
    return null;
  }

  /** null when every check passes, else "<check>: <Error>: <message>". */
  verdict() {
    if (this.inFlight === null) {
      this.probes += 1;
      const probe = this.probe();
      this.inFlight = probe;
      probe.finally(() => {
        if (this.inFlight === probe) this.inFlight = null;
      });
    }
    return this.inFlight;
  }

  handler() {
    return async (req, res) => {
      const failure = await this.verdict();
      if (failure !== null) return sendError(res, 503, 'unavailable', failure);
      return res.json({ status: 'ok' });
    };
  }
}
