// The Express monolith's routes: the contract of targets/monolith/app.py over one pg pool.
// POST /orders reserves every item and records the order in ONE transaction: conditional updates
// (stock >= quantity) taken in product-id order so concurrent orders cannot deadlock; a shortfall
// rolls everything back and answers 409 insufficient_stock.
import { randomUUID } from 'node:crypto';

import express from 'express';

import { ROLE_USER, bearerClaims, hashPassword, issueToken, requireAdmin, verifyPassword } from './auth.js';
import { database, inTransaction } from './db.js';
import {
  ApiError,
  HealthProbe,
  MAX_BIGINT,
  ValidationError,
  bodyReader,
  errorHandler,
  getInt,
  getList,
  getStr,
  parseJsonObject,
  parseOrderId,
  parsePathId,
  queryInt,
  sendError,
} from './http.js';
import { USERNAME_MAX, USERNAME_MIN, isValidUsername, normalizeUsername } from './usernames.js';

const PASSWORD_MIN = 8;
const PASSWORD_MAX = 128; // characters
const INVALID_LOGIN = 'invalid username or password';
const PRODUCT_COLUMNS = 'id, name, price_cents, stock';
const MAX_AMOUNT = 1_000_000_000; // largest price_cents (cents) and stock (units)
const NAME_MIN = 1;
const NAME_MAX = 200; // characters
const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 100; // products per page
const MAX_OFFSET = 1_000_000; // products skipped at most
const MAX_ITEMS = 20; // items per order
const MAX_QUANTITY = 1000; // units per item
const FOREIGN_KEY_VIOLATION = '23503';
const USERNAME_PATTERN = /^[A-Za-z0-9_.-]+$/;

const productJson = (row) => ({ id: row.id, name: row.name, price_cents: row.price_cents, stock: row.stock });
const orderNotFound = () => new ApiError(404, 'not_found', 'order not found');

function parseNewAccount(body) {
  const raw = body.username;
  const data = typeof raw === 'string' ? { ...body, username: normalizeUsername(raw) } : body;
  const username = getStr(data, 'username', USERNAME_MIN, USERNAME_MAX, USERNAME_PATTERN);
  const password = getStr(data, 'password', PASSWORD_MIN, PASSWORD_MAX);
  return { username, password };
}

function parseOrderItems(body) {
  const rawItems = getList(body, 'items', 1, MAX_ITEMS);
  const seen = new Set();
  return rawItems.map((raw, index) => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new ValidationError(`items[${index}] must be an object`);
    }
    let productId;
    let quantity;
    try {
      productId = getInt(raw, 'product_id', 1, MAX_BIGINT);
      quantity = getInt(raw, 'quantity', 1, MAX_QUANTITY);
    } catch (error) {
      if (error instanceof ValidationError) throw new ValidationError(`items[${index}].${error.message}`);
      throw error;
    }
    if (seen.has(productId)) throw new ValidationError(`items[${index}].product_id ${productId} is repeated`);
    seen.add(productId);
    return { productId, quantity: Number(quantity) };
  });
}

function accountRoutes(router, pool, config) {
  router.post('/users', async (req, res) => {
    const { username, password } = parseNewAccount(parseJsonObject(req.rawBody));
    const passwordHash = await hashPassword(password);
    const { rows } = await pool.query(
      'INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3) ' +
        'ON CONFLICT (username) DO NOTHING RETURNING id',
      [username, passwordHash, ROLE_USER],
    );
    if (rows.length === 0) throw new ApiError(409, 'conflict', `username '${username}' is already taken`);
    res.status(201).json({ id: rows[0].id, username });
  });
  router.post('/login', async (req, res) => {
    const body = parseJsonObject(req.rawBody);
    if (typeof body.username !== 'string' || typeof body.password !== 'string') {
      throw new ValidationError('username and password are required strings');
    }
    const username = normalizeUsername(body.username);
    let row = null;
    if (isValidUsername(username)) { // else no such user can exist: no query, same argon2 work
      const { rows } = await pool.query(
        'SELECT id, username, password_hash, role FROM users WHERE username = $1',
        [username],
      );
      row = rows[0] ?? null;
    }
    if (!(await verifyPassword(row === null ? null : row.password_hash, body.password))) {
      throw new ApiError(401, 'unauthorized', INVALID_LOGIN);
    }
    res.json({ token: issueToken(row.id, row.username, row.role, config.tokenSecret, config.tokenTtlS) });
  });
}

function productRoutes(router, pool, config) {
  router.get('/products', async (req, res) => {
    const query = new URL(req.originalUrl, 'http://localhost').searchParams;
    const limit = queryInt(query, 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT);
    const offset = queryInt(query, 'offset', 0, 0, MAX_OFFSET);
    const { rows } = await pool.query(
      `SELECT ${PRODUCT_COLUMNS} FROM products ORDER BY id LIMIT $1 OFFSET $2`,
      [limit, offset],
    );
    res.json(rows.map(productJson));
  });
  router.get('/products/:productId', async (req, res) => {
    const productId = parsePathId(req.params.productId, 'product_id');
    const { rows } = await pool.query(`SELECT ${PRODUCT_COLUMNS} FROM products WHERE id = $1`, [
      productId.toString(),
    ]);
    if (rows.length === 0) throw new ApiError(404, 'not_found', `product ${productId} not found`);
    res.json(productJson(rows[0]));
  });
  router.post('/products', async (req, res) => {
    requireAdmin(bearerClaims(req, config.tokenSecret));
    const body = parseJsonObject(req.rawBody);
    const name = getStr(body, 'name', NAME_MIN, NAME_MAX);
    const priceCents = getInt(body, 'price_cents', 0, MAX_AMOUNT);
    const stock = getInt(body, 'stock', 0, MAX_AMOUNT);
    const { rows } = await pool.query(
      `INSERT INTO products (name, price_cents, stock) VALUES ($1, $2, $3) RETURNING ${PRODUCT_COLUMNS}`,
      [name, priceCents.toString(), stock.toString()],
    );
    res.status(201).json(productJson(rows[0]));
  });
}

async function reserveAndRecord(client, userId, items) {
  const orderId = randomUUID();
  const lines = [];
  for (const { productId, quantity } of items) {
    const id = productId.toString();
    const { rows } = await client.query(
      'UPDATE products SET stock = stock - $2 WHERE id = $1 AND stock >= $2 RETURNING price_cents',
      [id, quantity],
    );
    if (rows.length === 0) {
      const found = await client.query('SELECT 1 FROM products WHERE id = $1', [id]);
      if (found.rows.length === 0) throw new ApiError(404, 'not_found', `product ${id} not found`);
      throw new ApiError(409, 'insufficient_stock', `not enough stock for product ${id}`);
    }
    lines.push({ product_id: Number(productId), quantity, price_cents: rows[0].price_cents });
  }
  const totalCents = lines.reduce((sum, line) => sum + line.price_cents * line.quantity, 0);
  try {
    await client.query(
      "INSERT INTO orders (id, user_id, status, total_cents) VALUES ($1, $2, 'confirmed', $3)",
      [orderId, userId, totalCents],
    );
  } catch (error) {
    if (error.code === FOREIGN_KEY_VIOLATION) { // a validly signed token of an unknown user
      throw new ApiError(401, 'unauthorized', "the token's user does not exist");
    }
    throw error;
  }
  await client.query(
    'INSERT INTO order_items (order_id, product_id, quantity, price_cents) ' +
      'SELECT $1, * FROM unnest($2::bigint[], $3::integer[], $4::bigint[])',
    [orderId, lines.map((l) => l.product_id), lines.map((l) => l.quantity), lines.map((l) => l.price_cents)],
  );
  return { id: orderId, status: 'confirmed', total_cents: totalCents, items: lines };
}

const STATS_SQL = `
SELECT (SELECT count(*) FROM users) AS users,
       (SELECT count(*) FROM products) AS products,
       (SELECT coalesce(sum(stock), 0)::bigint FROM products) AS stock_total,
       (SELECT count(*) FROM orders WHERE status = 'pending') AS pending,
       (SELECT count(*) FROM orders WHERE status = 'confirmed') AS confirmed,
       (SELECT count(*) FROM orders WHERE status = 'rejected') AS rejected,
       (SELECT coalesce(sum(i.quantity), 0)::bigint FROM order_items i
          JOIN orders o ON o.id = i.order_id WHERE o.status = 'confirmed') AS units_sold`;

function orderRoutes(router, pool, config) {
  router.post('/orders', async (req, res) => {
    const claims = bearerClaims(req, config.tokenSecret);
    const body = parseJsonObject(req.rawBody);
    const items = parseOrderItems(body).sort((a, b) => (a.productId < b.productId ? -1 : 1)); // lock order
    const order = await inTransaction(pool, (client) => reserveAndRecord(client, claims.userId, items));
    res.status(201).json(order);
  });
  router.get('/orders/:orderId', async (req, res) => {
    const claims = bearerClaims(req, config.tokenSecret);
    const orderId = parseOrderId(req.params.orderId);
    if (orderId === null) throw orderNotFound();
    const order = await pool.query(
      'SELECT id, status, total_cents FROM orders WHERE id = $1 AND user_id = $2',
      [orderId, claims.userId],
    );
    if (order.rows.length === 0) throw orderNotFound();
    const items = await pool.query(
      'SELECT product_id, quantity, price_cents FROM order_items WHERE order_id = $1 ORDER BY product_id',
      [orderId],
    );
    const { id, status, total_cents: totalCents } = order.rows[0];
    res.json({ id, status, items: items.rows, total_cents: totalCents });
  });
  router.get('/stats', async (req, res) => {
    requireAdmin(bearerClaims(req, config.tokenSecret));
    const { rows } = await pool.query(STATS_SQL);
    const row = rows[0];
    res.json({
      users: row.users,
      products: row.products,
      orders: { pending: row.pending, confirmed: row.confirmed, rejected: row.rejected },
      stock_total: row.stock_total,
      units_sold: row.units_sold,
    });
  });
}

// path -> the methods it answers (HEAD comes with GET); any other method is 405 with Allow.
const ROUTES = {
  '/health': 'GET, HEAD',
  '/users': 'POST',
  '/login': 'POST',
  '/products': 'GET, HEAD, POST',
  '/products/:productId': 'GET, HEAD',
  '/orders': 'POST',
  '/orders/:orderId': 'GET, HEAD',
  '/stats': 'GET, HEAD',
};

/** The monolith application over `pool` (already connected, schema applied). */
export function createApp(config, pool, log) {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // as aiohttp: no ETag, no 304s
  app.set('strict routing', true); // /products/ is not /products (aiohttp: 404)
  app.set('case sensitive routing', true);
  app.set('query parser', false); // GET /products parses its own query (first value of a name)
  app.use(bodyReader(config.maxBodyBytes, config.bodyTimeoutS));
  const healthDatabase = () => database(pool);
  const health = new HealthProbe(healthDatabase);
  app.get('/health', health.handler());
  accountRoutes(app, pool, config);
  productRoutes(app, pool, config);
  orderRoutes(app, pool, config);
  for (const [path, allow] of Object.entries(ROUTES)) {
    app.all(path, (req, res) => {
      res.set('Allow', allow);
      sendError(res, 405, 'method_not_allowed', 'Method Not Allowed');
    });
  }
  app.use((req, res) => sendError(res, 404, 'not_found', 'Not Found'));
  app.use(errorHandler(log));
  return app;
}
