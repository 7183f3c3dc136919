import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipKey, MemoryAuthThrottle } from '../src/auth/throttle.js';

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return { now: () => time, advance: (ms) => (time += ms) };
}

async function failTimes(throttle: MemoryAuthThrottle, count: number, ip: string, account: string | null): Promise<void> {
  for (let i = 0; i < count; i++) await throttle.recordFailure(ip, account);
}

test('delays: 0 for the first 3 failures, then 1 s doubling up to 30 s', async () => {
  const throttle = new MemoryAuthThrottle({}, manualClock().now);
  const delays: number[] = [];
  for (let i = 0; i < 10; i++) {
    delays.push(await throttle.delayFor('192.0.2.1', 'tim@example.com'));
    await throttle.recordFailure('192.0.2.1', 'tim@example.com');
  }
  delays.push(await throttle.delayFor('192.0.2.1', 'tim@example.com'));
  assert.deepEqual(delays, [0, 0, 0, 0, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
});

test('failures per account count from any IP; failures per IP count for any account', async () => {
  const throttle = new MemoryAuthThrottle({}, manualClock().now);
  for (let i = 0; i < 5; i++) await throttle.recordFailure(`198.51.100.${i}`, 'victim@example.com');
  assert.equal(await throttle.delayFor('203.0.113.9', 'victim@example.com'), 2000);
  assert.equal(await throttle.delayFor('203.0.113.9', 'other@example.com'), 0);
  for (let i = 0; i < 6; i++) await throttle.recordFailure('203.0.113.50', `user${i}@example.com`);
  assert.equal(await throttle.delayFor('203.0.113.50', 'fresh@example.com'), 4000);
  assert.equal(await throttle.delayFor('203.0.113.50'), 4000);
});

test('account names are matched case-insensitively', async () => {
  const throttle = new MemoryAuthThrottle({}, manualClock().now);
  await failTimes(throttle, 4, '192.0.2.1', 'Tim@Example.com');
  assert.equal(await throttle.delayFor('192.0.2.99', 'tim@example.com'), 1000);
});

test('decay: one failure forgiven per decay interval, then the key is forgotten', async () => {
  const clock = manualClock();
  const throttle = new MemoryAuthThrottle({ decayMs: 60_000 }, clock.now);
  await failTimes(throttle, 7, '192.0.2.7', null);
  assert.equal(await throttle.delayFor('192.0.2.7'), 8000);
  clock.advance(60_000);
  assert.equal(await throttle.delayFor('192.0.2.7'), 4000);
  clock.advance(59_999);
  assert.equal(await throttle.delayFor('192.0.2.7'), 4000);
  clock.advance(1);
  assert.equal(await throttle.delayFor('192.0.2.7'), 2000);
  clock.advance(3 * 60_000);
  assert.equal(await throttle.delayFor('192.0.2.7'), 0);
  clock.advance(2 * 60_000);
  assert.equal(await throttle.delayFor('192.0.2.7'), 0);
  assert.equal(throttle.size, 0);
});

test('a new failure after partial decay continues from the decayed count', async () => {
  const clock = manualClock();
  const throttle = new MemoryAuthThrottle({ decayMs: 1000 }, clock.now);
  await failTimes(throttle, 6, '192.0.2.8', null);
  clock.advance(2000);
  await throttle.recordFailure('192.0.2.8');
  assert.equal(await throttle.delayFor('192.0.2.8'), 2000);
});

test('success clears the account counter but not the IP counter', async () => {
  const throttle = new MemoryAuthThrottle({}, manualClock().now);
  await failTimes(throttle, 5, '192.0.2.9', 'tim@example.com');
  await throttle.recordSuccess('192.0.2.9', 'tim@example.com');
  assert.equal(await throttle.delayFor('192.0.2.200', 'tim@example.com'), 0);
  assert.equal(await throttle.delayFor('192.0.2.9', 'tim@example.com'), 2000);
});

test('IPv6 clients are counted per /64; IPv4-mapped addresses as IPv4', async () => {
  assert.equal(ipKey('2001:db8:1:2:aaaa::1'), 'ip:2001:db8:1:2::/64');
  assert.equal(ipKey('2001:0db8:0001:0002:bbbb:cccc:dddd:eeee'), 'ip:2001:db8:1:2::/64');
  assert.equal(ipKey('::ffff:192.0.2.1'), 'ip:192.0.2.1');
  assert.equal(ipKey('192.0.2.1'), 'ip:192.0.2.1');
  assert.equal(ipKey('::1'), 'ip:0:0:0:0::/64');
  assert.equal(ipKey('fe80::1%eth0'), 'ip:fe80:0:0:0::/64');
  const throttle = new MemoryAuthThrottle({}, manualClock().now);
  for (let i = 0; i < 4; i++) await throttle.recordFailure(`2001:db8:1:2::${i + 1}`);
  assert.equal(await throttle.delayFor('2001:db8:1:2:ffff::9'), 1000);
  assert.equal(await throttle.delayFor('2001:db8:1:3::1'), 0);
});

test('memory is bounded: the least recently failing keys are dropped first', async () => {
  const throttle = new MemoryAuthThrottle({ maxEntries: 3 }, manualClock().now);
  await failTimes(throttle, 5, '10.0.0.1', null);
  await throttle.recordFailure('10.0.0.2');
  await throttle.recordFailure('10.0.0.3');
  await throttle.recordFailure('10.0.0.1');
  await throttle.recordFailure('10.0.0.4');
  assert.equal(throttle.size, 3);
  assert.equal(await throttle.delayFor('10.0.0.2'), 0);
  assert.equal(await throttle.delayFor('10.0.0.1'), 4000);
});

test('the throttle never blocks: it returns the delay at once', async () => {
  const throttle = new MemoryAuthThrottle();
  await failTimes(throttle, 20, '192.0.2.10', 'x@example.com');
  const started = performance.now();
  assert.equal(await throttle.delayFor('192.0.2.10', 'x@example.com'), 30000);
  assert.ok(performance.now() - started < 50);
});
