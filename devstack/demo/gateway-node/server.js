// The demo shop's API gateway: takes a checkout, asks the order service to place the order.
//
// It answers "completed" for any 2xx from the order service — including the 202 the order
// service sends when it could not save the order. That trust is the demo's incident.
// The same API and downstream calls as the Python gateway (devstack/demo/gateway.py):
//   POST /api/checkout            {customer_id, items: [{sku, quantity}]}
//   GET  /api/orders/:order_id
//   GET  /healthz, /readyz        (not traced)
// Configuration: TRACELINK_DEMO_ORDER_URL, TRACELINK_DEMO_HOST / TRACELINK_DEMO_PORT or an
// inherited listening socket TRACELINK_DEMO_LISTEN_FD (the launcher's), plus telemetry.js.
'use strict';

const { sdk } = require('./telemetry');
const crypto = require('node:crypto');
const express = require('express');
const { trace } = require('@opentelemetry/api');
const { createLogger } = require('./logging');

const ORDER_URL = (process.env.TRACELINK_DEMO_ORDER_URL || 'http://127.0.0.1:8101').replace(/\/$/, '');
// Inter-service calls: generous, the order service may retry its database for a second.
const CLIENT_TIMEOUT_MS = 10_000;

function currentTraceId() {
  const ctx = trace.getActiveSpan()?.spanContext();
  return ctx && trace.isSpanContextValid(ctx) ? ctx.traceId : null;
}

// The W3C traceresponse header for the current server span (empty outside one).
function traceresponse() {
  const ctx = trace.getActiveSpan()?.spanContext();
  if (!ctx || !trace.isSpanContextValid(ctx)) return {};
  const flags = ctx.traceFlags & 1 ? '01' : '00';
  return { traceresponse: `00-${ctx.traceId}-${ctx.spanId}-${flags}` };
}

function isText(value, max) {
  return typeof value === 'string' && value.length >= 1 && value.length <= max;
}

// The checkout model of the Python gateway (CheckoutRequest): 422 with a detail otherwise.
function checkoutProblem(body) {
  if (!body || typeof body !== 'object') return 'body must be a JSON object';
  if (!isText(body.customer_id, 100)) return 'customer_id: 1 to 100 characters';
  const { items } = body;
  if (!Array.isArray(items) || items.length < 1 || items.length > 50) {
    return 'items: 1 to 50 items';
  }
  for (const item of items) {
    if (!item || !isText(item.sku, 100)) return 'items[].sku: 1 to 100 characters';
    if (!Number.isInteger(item.quantity) || item.quantity < 1 || item.quantity > 100) {
      return 'items[].quantity: an integer from 1 to 100';
    }
  }
  return null;
}

async function detailOf(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body && typeof body === 'object' && !Array.isArray(body)) {
      return String(body.detail ?? JSON.stringify(body));
    }
    return String(body);
  } catch {
    return text.slice(0, 200);
  }
}

function createApp(log) {
  const app = express();
  app.use(express.json({ limit: '100kb' }));

  app.get('/healthz', (_req, res) => res.json({ status: 'ok', service: 'gateway' }));
  app.get('/readyz', (_req, res) => res.json({ status: 'ready', service: 'gateway' }));

  app.post('/api/checkout', async (req, res) => {
    const problem = checkoutProblem(req.body);
    if (problem) {
      res.status(422).json({ detail: problem });
      return;
    }
    const { customer_id: customerId, items } = req.body;
    const orderId = `ord-${crypto.randomBytes(6).toString('hex')}`;
    const traceId = currentTraceId();
    res.set(traceresponse());
    const units = items.reduce((sum, item) => sum + item.quantity, 0);
    log.info(`checkout for customer ${customerId}: order ${orderId} with ${units} items`);
    let response;
    try {
      response = await fetch(`${ORDER_URL}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ customer_id: customerId, items, order_id: orderId }),
        signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
      });
    } catch (err) {
      log.error({ err }, `order service unreachable while placing order ${orderId}`);
      res.status(503).json({ order_id: orderId, status: 'failed', trace_id: traceId });
      return;
    }
    if (response.ok) {
      // Any 2xx counts as done: the order service's 202 ("accepted, will be saved later")
      // is reported to the customer as a completed order.
      await response.arrayBuffer();
      log.info(`order ${orderId} completed for customer ${customerId}`);
      res.json({ order_id: orderId, status: 'completed', trace_id: traceId });
      return;
    }
    const detail = await detailOf(response);
    if (response.status === 402 || response.status === 409) {
      log.warn(`order ${orderId} rejected: ${detail}`);
      res.status(response.status).json({
        order_id: orderId,
        status: 'rejected',
        reason: detail,
        trace_id: traceId,
      });
      return;
    }
    log.error(`order service failed order ${orderId} with HTTP ${response.status}: ${detail}`);
    res.status(502).json({ order_id: orderId, status: 'failed', trace_id: traceId });
  });

  app.get('/api/orders/:orderId', async (req, res) => {
    const { orderId } = req.params;
    let response;
    try {
      response = await fetch(`${ORDER_URL}/orders/${encodeURIComponent(orderId)}`, {
        signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
      });
    } catch (err) {
      log.error({ err }, `order service unreachable while looking up order ${orderId}`);
      res.status(503).json({ detail: 'order service unavailable' });
      return;
    }
    if (response.status === 404) log.info(`order ${orderId} not found`);
    res.status(response.status).type('application/json').send(Buffer.from(await response.arrayBuffer()));
  });

  // A body that is not JSON: a 422 with a detail, as the Python gateway (FastAPI) answers.
  app.use((err, _req, res, next) => {
    if (err?.type === 'entity.parse.failed' || err?.type === 'entity.too.large') {
      res.status(err.type === 'entity.too.large' ? 413 : 422).json({ detail: err.message });
      return;
    }
    next(err);
  });

  return app;
}

function listenOptions() {
  const fd = process.env.TRACELINK_DEMO_LISTEN_FD;
  if (fd) return { fd: Number(fd) };
  return {
    host: process.env.TRACELINK_DEMO_HOST || '127.0.0.1',
    port: Number(process.env.TRACELINK_DEMO_PORT || 8100),
  };
}

async function main() {
  const { logger, close } = await createLogger();
  const server = createApp(logger).listen(listenOptions(), () => {
    logger.info('gateway listening');
  });
  let stopping = false;
  // SIGTERM/SIGINT: finish in-flight requests, then flush logs and spans, exit 0.
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.close(async () => {
      try {
        await close();
        await sdk.shutdown();
      } finally {
        process.exit(0);
      }
    });
    server.closeIdleConnections?.();
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
