/**
 * The throttle shared across nodes (src/auth/throttle-shared.ts) over its PostgreSQL counters
 * (src/store/postgres/throttle.ts): two throttles on one schema see each other's failures, the
 * counts leak away with time, a success clears the account, and a database outage falls back to
 * the node's own counters instead of failing logins. The two-process version is in
 * test/store-postgres-nodes.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SharedAuthThrottle } from '../src/auth/throttle-shared.js';
import type { ThrottleStore } from '../src/auth/throttle-shared.js';
import { silentLogger } from '../src/log/index.js';
import { openPostgresStore } from '../src/store/postgres/index.js';
import { PostgresThrottleStore } from '../src/store/postgres/throttle.js';
import { dropSchema, freshSchemaName, postgresTestTarget, withTestClient } from '../src/store/postgres/testing.js';

const target = await postgresTestTarget();
const skip = target.unavailable === null ? false : target.required ? false : `PostgreSQL not reachable at ${target.url} (${target.unavailable})`;
const POLICY = { freeFailures: 1, baseDelayMs: 1000, maxDelayMs: 8000, decayMs: 60_000 };

test('a throttle store that fails: the node throttles with its own counters and logs nothing fatal', async () => {
  const broken: ThrottleStore = {
    addFailure: () => Promise.reject(new Error('database down')),
    failures: () => Promise.reject(new Error('database down')),
    clear: () => Promise.reject(new Error('database down')),
  };
  const throttle = new SharedAuthThrottle(broken, silentLogger(), POLICY);
  await throttle.recordFailure('192.0.2.1', 'ann@example.org');
  assert.equal(await throttle.delayFor('192.0.2.1', 'ann@example.org'), 0);
  await throttle.recordFailure('192.0.2.1', 'ann@example.org');
  assert.equal(await throttle.delayFor('192.0.2.1', 'ann@example.org'), 1000);
  await throttle.recordSuccess('192.0.2.1', 'ann@example.org');
  assert.equal(await throttle.delayFor('192.0.2.9', 'ann@example.org'), 0);
});

test('PostgreSQL counters: shared by two nodes, decayed, cleared on success', { skip }, async (t) => {
  assert.equal(target.unavailable, null, `PostgreSQL required: ${target.unavailable}`);
  const schema = freshSchemaName();
  const url = new URL(target.url);
  url.searchParams.set('options', `-c search_path=${schema}`);
  // Opening a store applies the migrations, auth_throttle included.
  await (await openPostgresStore({ url: url.toString(), listen: false })).close();
  t.after(() => dropSchema(target.url, schema));
  const countersA = PostgresThrottleStore.open(url.toString());
  const countersB = PostgresThrottleStore.open(url.toString());
  t.after(() => Promise.all([countersA.close(), countersB.close()]));
  const nodeA = new SharedAuthThrottle(countersA, silentLogger(), POLICY);
  const nodeB = new SharedAuthThrottle(countersB, silentLogger(), POLICY);

  await nodeA.recordFailure('198.51.100.7', 'ann@example.org');
  await nodeA.recordFailure('198.51.100.7', 'ann@example.org');
  await nodeA.recordFailure('198.51.100.7', 'ann@example.org');
  // B never saw a failure itself: 3 shared failures, 1 free → 2 × base.
  assert.equal(await nodeB.delayFor('198.51.100.7', 'ann@example.org'), 2000);
  // Another IP, same account; and the same IP for another account.
  assert.equal(await nodeB.delayFor('203.0.113.5', 'ANN@example.org'), 2000);
  assert.equal(await nodeB.delayFor('198.51.100.7', 'bob@example.org'), 2000);
  assert.equal(await nodeB.delayFor('203.0.113.5', 'bob@example.org'), 0);
  // IPv6 by /64 on every node.
  await nodeA.recordFailure('2001:db8:1:2::10', null);
  await nodeA.recordFailure('2001:db8:1:2::10', null);
  assert.equal(await nodeB.delayFor('2001:db8:1:2:ffff::1', null), 1000);

  // A success on B clears the account on A too; the IP keeps its count.
  await nodeB.recordSuccess('198.51.100.7', 'ann@example.org');
  assert.equal(await countersA.failures(['account:ann@example.org'], POLICY.decayMs), 0);
  const ipCount = await countersA.failures(['ip:198.51.100.7'], POLICY.decayMs);
  assert.ok(ipCount > 2.9 && ipCount <= 3, `the IP keeps its three failures (a little decayed): ${ipCount}`);

  // Decay: with a 50 ms decay, a count of 3 is gone after 150 ms.
  await countersA.addFailure(['account:decay@example.org'], 50);
  await countersA.addFailure(['account:decay@example.org'], 50);
  const fresh = await countersB.failures(['account:decay@example.org'], 50);
  assert.ok(fresh > 1 && fresh <= 2, `two recent failures: ${fresh}`);
  await sleep(200);
  assert.equal(await countersB.failures(['account:decay@example.org'], 50), 0);

  const rows = await withTestClient(url.toString(), async (client) => (await client.query('SELECT key FROM auth_throttle ORDER BY key')).rows as Array<{ key: string }>);
  assert.ok(rows.some((row) => row.key === 'ip:2001:db8:1:2::/64'), JSON.stringify(rows));
  assert.ok(!rows.some((row) => row.key === 'account:ann@example.org'));
});
