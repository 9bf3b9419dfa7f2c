// The Express monolith: `node targets/express_monolith/server.js`, configured only by the
// environment variables of the Python services (targets/common/config.py): HOST, PORT, WORKERS,
// DATABASE_URL, TOKEN_SECRET, ADMIN_USERNAME, ADMIN_PASSWORD, DB_POOL_SIZE, TOKEN_TTL_S,
// MAX_BODY_BYTES, HEADER_TIMEOUT_S, BODY_TIMEOUT_S, SERVICE_NAME.
//
// WORKERS=1 serves in this process; more fork that many node:cluster workers sharing the port.
// SIGTERM/SIGINT stop it (requests in progress get SHUTDOWN_TIMEOUT_S); when a worker dies
// unexpectedly the primary stops the others and exits with its status (as targets/common/serve.py).
import cluster from 'node:cluster';
import http from 'node:http';

const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  process.stderr.write(`express-monolith needs Node.js 20 or newer, not ${process.version}\n`);
  process.exit(2);
}

let modules;
try {
  modules = {
    app: await import('./lib/app.js'),
    config: await import('./lib/config.js'),
    db: await import('./lib/db.js'),
    log: await import('./lib/log.js'),
  };
} catch (error) {
  if (error?.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write(
      `express-monolith: its npm dependencies are not installed (${error.message.split('\n')[0]}); ` +
        'fix: npm ci --prefix targets/express_monolith (or make install)\n',
    );
    process.exit(2);
  }
  throw error;
}

const STOP_GRACE_S = 15; // seconds workers get to exit after a stop before SIGKILL
const SHUTDOWN_TIMEOUT_S = 5; // seconds requests in progress get to finish on a stop
const KEEPALIVE_TIMEOUT_S = 75; // seconds an idle keep-alive connection stays open (aiohttp's)

function loadConfigOrExit() {
  try {
    return modules.config.loadConfig(process.env);
  } catch (error) {
    if (error instanceof modules.config.ConfigError) {
      process.stderr.write(`configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

async function runWorker(config, log) {
  const pool = await modules.db.connectPool(config.databaseUrl, config.dbPoolSize, log);
  await modules.db.applySchema(pool, modules.db.loadSchema());
  await modules.db.ensureAdmin(pool, config.adminUsername, config.adminPassword);
  const app = modules.app.createApp(config, pool, log);
  const server = http.createServer(
    {
      // a head must be complete HEADER_TIMEOUT_S after it began; the whole request is bounded too
      // (the body deadline itself is the app's bodyReader: 408 JSON); checked every second.
      headersTimeout: config.headerTimeoutS * 1000,
      requestTimeout: (config.headerTimeoutS + config.bodyTimeoutS + 1) * 1000,
      connectionsCheckingInterval: 1000,
      keepAliveTimeout: KEEPALIVE_TIMEOUT_S * 1000,
    },
    app,
  );
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: config.host, port: config.port, backlog: 128 }, resolve);
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server.close();
    server.closeIdleConnections();
    const forced = setTimeout(() => server.closeAllConnections(), SHUTDOWN_TIMEOUT_S * 1000);
    await new Promise((resolve) => server.once('close', resolve));
    clearTimeout(forced);
    await pool.end();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function supervise(config, log) {
  let stopping = false;
  let exitCode = 0;
  const stopAll = (signal) => {
    stopping = true;
    for (const worker of Object.values(cluster.workers)) worker.process.kill(signal);
    setTimeout(() => {
      for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGKILL');
    }, STOP_GRACE_S * 1000).unref();
  };
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      log.info(`received ${signal}; stopping ${config.workers} workers`);
      stopAll(signal);
    });
  }
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      log.error(`worker ${worker.process.pid} exited with ${code ?? signal}; stopping the others`);
      exitCode = code > 0 ? code : 1;
      stopAll('SIGTERM');
    }
    if (Object.keys(cluster.workers).length === 0) process.exit(exitCode);
  });
  for (let i = 0; i < config.workers; i += 1) cluster.fork();
}

const config = loadConfigOrExit();
const log = modules.log.makeLogger(config.serviceName);
if (cluster.isPrimary && config.workers > 1) {
  log.info(`serving ${config.serviceName} on ${config.host}:${config.port} with ${config.workers} worker(s)`);
  supervise(config, log);
} else {
  if (cluster.isPrimary) log.info(`serving ${config.serviceName} on ${config.host}:${config.port} with 1 worker(s)`);
  runWorker(config, log).catch((error) => {
    log.error(`could not start: ${error?.stack ?? error}`);
    process.exit(1);
  });
}
