// Runs create/retrieve/list/update flows of the official TypeScript SDK against the local
// emulator and checks that it reads back what it created and that lists page through every
// item exactly once. Usage: DODO_EMULATOR_URL=... DODO_EMULATOR_KEY=... node flows.mjs
import assert from 'node:assert/strict';
import DodoPayments from 'dodopayments';

const client = new DodoPayments({
  bearerToken: process.env.DODO_EMULATOR_KEY,
  baseURL: process.env.DODO_EMULATOR_URL,
  maxRetries: 0,
  logLevel: 'warn',
});

const results = [];
async function flow(name, fn) {
  try {
    await fn();
    results.push([name, 'ok']);
  } catch (err) {
    results.push([name, `FAILED: ${err?.stack ?? err}`]);
  }
}

// Walks a page-number list with the SDK's auto-pagination. page_number 0 is passed
// explicitly: the SDK skips page 1 when it is omitted (its known bug).
async function collect(list, params) {
  const seen = [];
  for await (const item of list({ ...params, page_number: 0, page_size: 3 })) seen.push(item);
  return seen;
}

function oneTimePrice(amount) {
  return { type: 'one_time_price', currency: 'USD', price: amount, discount: 0, purchasing_power_parity: false };
}

const billing = { country: 'US', city: 'New York', state: 'NY', street: '1 Main St', zipcode: '10001' };

await flow('products', async () => {
  const created = [];
  for (let i = 0; i < 7; i++) {
    created.push(await client.products.create({ name: `Book ${i}`, price: oneTimePrice(1000 + i), tax_category: 'digital_products' }));
  }
  const got = await client.products.retrieve(created[0].product_id);
  assert.equal(got.name, 'Book 0');
  assert.equal(got.price.price, 1000);
  await client.products.update(created[0].product_id, { name: 'Book zero' });
  assert.equal((await client.products.retrieve(created[0].product_id)).name, 'Book zero');
  const listed = await collect((p) => client.products.list(p), {});
  const ids = listed.map((p) => p.product_id);
  assert.equal(new Set(ids).size, ids.length, 'no product listed twice');
  for (const c of created) assert.ok(ids.includes(c.product_id), `product ${c.product_id} listed`);
});

let customerId;
await flow('customers', async () => {
  const created = [];
  for (let i = 0; i < 5; i++) {
    created.push(await client.customers.create({ email: `c${i}@example.com`, name: `Customer ${i}` }));
  }
  customerId = created[0].customer_id;
  const got = await client.customers.retrieve(customerId);
  assert.equal(got.email, 'c0@example.com');
  await client.customers.update(customerId, { name: 'Renamed' });
  assert.equal((await client.customers.retrieve(customerId)).name, 'Renamed');
  const listed = await collect((p) => client.customers.list(p), {});
  const ids = listed.map((c) => c.customer_id);
  assert.equal(new Set(ids).size, ids.length);
  for (const c of created) assert.ok(ids.includes(c.customer_id));
});

await flow('payments', async () => {
  const product = await client.products.create({ name: 'Ebook', price: oneTimePrice(2500), tax_category: 'digital_products' });
  const created = await client.payments.create({
    billing,
    customer: { customer_id: customerId },
    product_cart: [{ product_id: product.product_id, quantity: 2 }],
    payment_link: true,
  });
  assert.ok(created.payment_id.startsWith('pay_'));
  assert.ok(created.payment_link, 'payment link returned');
  const got = await client.payments.retrieve(created.payment_id);
  assert.equal(got.payment_id, created.payment_id);
  assert.equal(got.customer.customer_id, customerId);
  const listed = await collect((p) => client.payments.list(p), { customer_id: customerId });
  assert.ok(listed.some((p) => p.payment_id === created.payment_id));
});

await flow('subscriptions', async () => {
  const plan = await client.products.create({
    name: 'Monthly',
    tax_category: 'saas',
    price: {
      type: 'recurring_price', currency: 'USD', price: 900, discount: 0, purchasing_power_parity: false,
      payment_frequency_count: 1, payment_frequency_interval: 'Month',
      subscription_period_count: 12, subscription_period_interval: 'Month',
    },
  });
  const created = await client.subscriptions.create({
    billing, customer: { customer_id: customerId }, product_id: plan.product_id, quantity: 1, payment_link: true,
  });
  assert.ok(created.subscription_id.startsWith('sub_'));
  const got = await client.subscriptions.retrieve(created.subscription_id);
  assert.equal(got.product_id, plan.product_id);
  await client.subscriptions.update(created.subscription_id, { metadata: { seat: 'a' } });
  const updated = await client.subscriptions.retrieve(created.subscription_id);
  assert.equal(updated.metadata.seat, 'a');
  const listed = await collect((p) => client.subscriptions.list(p), {});
  assert.ok(listed.some((s) => s.subscription_id === created.subscription_id));
});

await flow('discounts', async () => {
  const created = await client.discounts.create({ amount: 1000, type: 'percentage', code: 'TENOFF', usage_limit: 5 });
  const got = await client.discounts.retrieve(created.discount_id);
  assert.equal(got.code, 'TENOFF');
  await client.discounts.update(created.discount_id, { name: 'Ten percent' });
  assert.equal((await client.discounts.retrieve(created.discount_id)).name, 'Ten percent');
  const listed = await collect((p) => client.discounts.list(p), {});
  assert.ok(listed.some((d) => d.discount_id === created.discount_id));
  await client.discounts.delete(created.discount_id);
  await assert.rejects(client.discounts.retrieve(created.discount_id), (e) => e.status === 404);
});

await flow('webhooks', async () => {
  const created = [];
  for (let i = 0; i < 4; i++) {
    created.push(await client.webhooks.create({ url: `https://example.com/hook/${i}`, description: `hook ${i}` }));
  }
  const got = await client.webhooks.retrieve(created[0].id);
  assert.equal(got.url, 'https://example.com/hook/0');
  await client.webhooks.update(created[0].id, { description: 'first' });
  assert.equal((await client.webhooks.retrieve(created[0].id)).description, 'first');
  const secret = await client.webhooks.retrieveSecret(created[0].id);
  assert.ok(secret.secret.startsWith('whsec_'));
  const seen = [];
  for await (const hook of client.webhooks.list({ limit: 2 })) seen.push(hook.id);
  assert.equal(new Set(seen).size, seen.length, 'cursor list repeats nothing');
  for (const c of created) assert.ok(seen.includes(c.id), `webhook ${c.id} listed`);
  await client.webhooks.delete(created[3].id);
  await assert.rejects(client.webhooks.retrieve(created[3].id), (e) => e.status === 404);
});

await flow('usage events', async () => {
  const now = new Date().toISOString();
  const events = Array.from({ length: 5 }, (_, i) => ({ event_id: `evt_ts_${i}`, customer_id: customerId, event_name: 'api.call', timestamp: now }));
  const first = await client.usageEvents.ingest({ events });
  assert.equal(first.ingested_count, 5);
  const again = await client.usageEvents.ingest({ events });
  assert.equal(again.ingested_count, 0, 'already-stored event ids are ignored');
  const got = await client.usageEvents.retrieve('evt_ts_0');
  assert.equal(got.event_name, 'api.call');
  const listed = await collect((p) => client.usageEvents.list(p), { customer_id: customerId });
  const ids = listed.map((e) => e.event_id).filter((id) => id.startsWith('evt_ts_'));
  assert.equal(ids.length, 5);
  assert.equal(new Set(ids).size, 5);
});

let failed = 0;
for (const [name, status] of results) {
  console.log(`${status === 'ok' ? 'ok  ' : 'FAIL'} ${name}${status === 'ok' ? '' : `\n${status}`}`);
  if (status !== 'ok') failed++;
}
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
