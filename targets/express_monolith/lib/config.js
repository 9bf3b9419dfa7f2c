// Service configuration, parsed once from environment variables at start: the same variables,
// defaults and ranges as targets/common/config.py (the Python services' configuration).
import { isValidUsername, normalizeUsername } from './usernames.js';

export class ConfigError extends Error {}

const ALWAYS_REQUIRED = ['PORT', 'TOKEN_SECRET'];
// Required by this service, as targets/monolith/__main__.py requires them.
export const MONOLITH_REQUIRED = ['DATABASE_URL', 'ADMIN_PASSWORD'];

function intVar(env, name, fallback, minimum, maximum) {
  const raw = (env[name] ?? '').trim();
  if (!raw) return fallback;
  if (!/^[+-]?[0-9]+$/.test(raw)) throw new ConfigError(`${name}=${JSON.stringify(raw)} is not an integer`);
  const value = Number(raw);
  if (!(value >= minimum && value <= maximum)) {
    throw new ConfigError(`${name}=${value} is outside ${minimum}..${maximum}`);
  }
  return value;
}

/**
 * The configuration from `env` (default process.env); ConfigError naming the first missing or
 * invalid variable. Times are seconds, sizes bytes (as their variable names say).
 */
export function loadConfig(env = process.env, require = MONOLITH_REQUIRED) {
  for (const name of [...ALWAYS_REQUIRED, ...require]) {
    if (!(env[name] ?? '').trim()) {
      throw new ConfigError(`environment variable ${name} is required but not set`);
    }
  }
  const text = (name, fallback = '') => (env[name] ?? fallback).trim();
  const adminUsername = normalizeUsername(text('ADMIN_USERNAME', 'admin'));
  if (!isValidUsername(adminUsername)) {
    throw new ConfigError(
      `ADMIN_USERNAME=${JSON.stringify(adminUsername)} breaks the username rules ` +
        '(3 to 64 of A-Z a-z 0-9 _ . -)',
    );
  }
  return Object.freeze({
    host: text('HOST', '127.0.0.1'),
    port: intVar(env, 'PORT', 0, 1, 65535),
    workers: intVar(env, 'WORKERS', 1, 1, 256),
    tokenSecret: text('TOKEN_SECRET'),
    adminUsername,
    adminPassword: env.ADMIN_PASSWORD ?? '',
    serviceName: text('SERVICE_NAME', 'service'),
    databaseUrl: text('DATABASE_URL'),
    dbPoolSize: intVar(env, 'DB_POOL_SIZE', 10, 1, 1000), // connections per worker process
    tokenTtlS: intVar(env, 'TOKEN_TTL_S', 3600, 1, 30 * 24 * 3600), // seconds
    maxBodyBytes: intVar(env, 'MAX_BODY_BYTES', 65536, 1024, 64 * 1024 * 1024), // bytes
    headerTimeoutS: intVar(env, 'HEADER_TIMEOUT_S', 10, 1, 3600), // seconds for a request head
    bodyTimeoutS: intVar(env, 'BODY_TIMEOUT_S', 10, 1, 3600), // seconds for a body after its head
  });
}
