// PostgreSQL, the rules of targets/common/db.py: a pool retrying while the server starts, the
// schema applied under a transaction-level advisory lock, the admin user ensured race-safely.
import { readFileSync } from 'node:fs';

import pg from 'pg';

import { ROLE_ADMIN, hashPassword, verifyPassword } from './auth.js';
import { normalizeUsername } from './usernames.js';

// bigint columns (ids, counts, sums) arrive as JavaScript numbers: every value they hold here stays
// far below 2**53 (ids count rows; stock and prices are at most 1e9 each).
pg.types.setTypeParser(pg.types.builtins.INT8, (text) => Number(text));

// targets/common/db.py's key ("archbenc"): workers of either implementation serialise their DDL.
const SCHEMA_LOCK_KEY = String(0x6172636862656e63n);
const CONNECT_TIMEOUT_S = 30; // seconds the pool waits for the server at start
const ACQUIRE_TIMEOUT_MS = 10000; // milliseconds a request waits for a pooled connection

/**
 * The whole schema: users and products (this directory's schema.sql, the DDL of
 * targets/common/accounts.py and catalog.py) then the monolith's own orders tables
 * (targets/monolith/schema.sql, read from there so both monoliths keep one schema).
 */
export function loadSchema() {
  const common = readFileSync(new URL('../schema.sql', import.meta.url), 'utf8');
  const orders = readFileSync(new URL('../../monolith/schema.sql', import.meta.url), 'utf8');
  return `${common}\n${orders}`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A pool of `size` connections that answers, retrying for CONNECT_TIMEOUT_S seconds. */
export async function connectPool(databaseUrl, size, log) {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: size,
    connectionTimeoutMillis: ACQUIRE_TIMEOUT_MS,
  });
  pool.on('error', (error) => log.warning(`idle database connection failed: ${error.message}`));
  const deadline = Date.now() + CONNECT_TIMEOUT_S * 1000;
  for (;;) {
    try {
      await pool.query('SELECT 1');
      return pool;
    } catch (error) {
      if (Date.now() > deadline) {
        await pool.end();
        throw error;
      }
      log.info(`database not ready yet (${error.message}); retrying`);
      await sleep(500);
    }
  }
}

/** Run `fn(client)` in one transaction (rolled back when it throws). */
export async function inTransaction(pool, fn) {
  const client = await pool.connect();
  let broken = null;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      broken = rollbackError; // the connection is unusable: drop it from the pool
    }
    throw error;
  } finally {
    client.release(broken ?? undefined);
  }
}

/** Run idempotent DDL `sql` holding the schema advisory lock. */
export function applySchema(pool, sql) {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK_KEY]);
    await client.query(sql);
  });
}

/** Create the admin user, or give the existing one this password and the admin role. */
export async function ensureAdmin(pool, username, password) {
  const name = normalizeUsername(username);
  const { rows } = await pool.query('SELECT password_hash, role FROM users WHERE username = $1', [name]);
  if (rows.length > 0 && rows[0].role === ROLE_ADMIN && (await verifyPassword(rows[0].password_hash, password))) {
    return;
  }
  const passwordHash = await hashPassword(password);
  await pool.query(
    'INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3) ' +
      'ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role',
    [name, passwordHash, ROLE_ADMIN],
  );
}

/** Throws unless the database answers `SELECT 1` (the health check). */
export async function database(pool) {
  await pool.query('SELECT 1');
}
