// Passwords (argon2id) and tokens (HS256 JWT), the rules of targets/common/auth.py.
import argon2 from 'argon2';
import jwt from 'jsonwebtoken';

import { ApiError } from './http.js';

export const ROLE_USER = 'user';
export const ROLE_ADMIN = 'admin';
const ROLES = new Set([ROLE_USER, ROLE_ADMIN]);
export const MAX_TOKEN_CHARS = 4096; // far above any token issueToken makes (~250 characters)
// header.payload.signature, each base64url without padding (an empty signature is refused by the
// library as unsigned). Checked first, so non-ASCII header bytes never reach a decoder.
const TOKEN_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const MAX_USER_ID = 2n ** 63n - 1n; // ids are PostgreSQL bigints

// OWASP Password Storage Cheat Sheet, argon2id option 2, exactly targets/common/auth.py's
// PASSWORD_HASHER: m=19 MiB (19456 KiB), t=2, p=1, 32-byte hash, 16-byte salt.
export const ARGON2_OPTIONS = Object.freeze({
  type: argon2.argon2id,
  memoryCost: 19456, // KiB
  timeCost: 2,
  parallelism: 1,
  hashLength: 32, // bytes
  saltLength: 16, // bytes
});
// A valid hash of a random string nobody knows, with the same parameters (targets/common/auth.py's):
// unknown users cost the same argon2 work as a wrong password (no user enumeration by timing).
const DUMMY_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$15QOn4NOF9af1SwTBi8DmQ$nJzb84ARY+rhbB/18BqkPrq8RhiYcZ1mH4K9E7v+xAg';

/** The argon2id hash of `password` (computed on libuv's thread pool, off the event loop). */
export function hashPassword(password) {
  return argon2.hash(password, ARGON2_OPTIONS);
}

async function verify(storedHash, password) {
  try {
    return await argon2.verify(storedHash, password);
  } catch {
    return false; // a malformed stored hash never matches
  }
}

/** Whether `password` matches `storedHash` (null: unknown user, always false after the same work). */
export async function verifyPassword(storedHash, password) {
  if (storedHash === null) {
    await verify(DUMMY_HASH, password);
    return false;
  }
  return verify(storedHash, password);
}

/** A signed HS256 token with sub (user id as text), name, role, iat, exp (Unix seconds). */
export function issueToken(userId, username, role, secret, ttlS) {
  const now = Math.floor(Date.now() / 1000);
  const payload = { sub: String(userId), name: username, role, iat: now, exp: now + ttlS };
  return jwt.sign(payload, secret, { algorithm: 'HS256' });
}

function claimsOf(payload) {
  const { sub, name, role, exp, iat } = payload;
  if (typeof sub !== 'string' || !/^[0-9]{1,19}$/.test(sub) || BigInt(sub) > MAX_USER_ID) return null;
  if (typeof name !== 'string' || !ROLES.has(role)) return null;
  if (typeof exp !== 'number' || !Number.isFinite(exp) || typeof iat !== 'number') return null;
  return Object.freeze({ userId: sub, username: name, role, exp: Math.trunc(exp), isAdmin: role === ROLE_ADMIN });
}

/** The claims of `token` if signed with `secret`, unexpired and complete, else null; never throws. */
export function decodeToken(token, secret) {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS || !TOKEN_SHAPE.test(token)) return null;
  try {
    // algorithms pins HS256: "alg": "none" (or any other algorithm) is refused.
    const payload = jwt.verify(token, secret, { algorithms: ['HS256'] });
    if (payload === null || typeof payload !== 'object' || !('exp' in payload) || !('iat' in payload)) {
      return null;
    }
    return claimsOf(payload);
  } catch {
    return null;
  }
}

/** Claims of the request's `Authorization: Bearer` token, else ApiError 401 `unauthorized`. */
export function bearerClaims(req, secret) {
  const header = req.headers.authorization ?? '';
  const space = header.indexOf(' ');
  const scheme = space === -1 ? header : header.slice(0, space);
  const token = space === -1 ? '' : header.slice(space + 1).trim();
  if (scheme.toLowerCase() !== 'bearer' || !token) {
    throw new ApiError(401, 'unauthorized', 'missing bearer token');
  }
  const claims = decodeToken(token, secret);
  if (claims === null) throw new ApiError(401, 'unauthorized', 'invalid or expired token');
  return claims;
}

/** `claims` if they belong to an admin, else ApiError 403 `forbidden`. */
export function requireAdmin(claims) {
  if (!claims.isAdmin) throw new ApiError(403, 'forbidden', 'admin role required');
  return claims;
}
