/**
 * The http listener as a server: keep-alive, malformed requests, methods, and graceful shutdown
 * (idle keep-alive connections closed at once, so a shutdown does not wait for them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { httpRequest } from './helpers/http.js';
import { startTestServer } from './helpers/server.js';

function get(port: number, path: string, agent: Agent): Promise<{ status: number; body: string; socketPort: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, socketPort: req.socket?.localPort ?? 0 }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function rawExchange(port: number, text: string): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  socket.write(text);
  let answer = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (answer += chunk));
  await once(socket, 'close');
  return answer;
}

test('keep-alive: several requests on one connection', async (t) => {
  const server = await startTestServer(t, { listeners: ['http'] });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const first = await get(server.port('http'), '/healthz', agent);
  const second = await get(server.port('http'), '/healthz', agent);
  assert.deepEqual([first.status, second.status], [200, 200]);
  assert.equal(first.socketPort, second.socketPort);
});

test('malformed requests get 400 and the connection closes; unknown methods 405', async (t) => {
  const server = await startTestServer(t, { listeners: ['http'] });
  const answer = await rawExchange(server.port('http'), 'THIS IS NOT HTTP\r\n\r\n');
  assert.equal(answer, 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  const patch = await httpRequest(server.port('http'), '/healthz', { method: 'PATCH' });
  assert.deepEqual([patch.status, patch.headers.allow], [405, 'GET, HEAD, POST, PUT, DELETE']);
  const options = await httpRequest(server.port('http'), '/healthz', { method: 'POST' });
  assert.deepEqual([options.status, options.headers.allow], [405, 'GET, HEAD']);
});

test('shutdown closes idle keep-alive connections at once instead of waiting for the timeout', async (t) => {
  const server = await startTestServer(t, { listeners: ['http'] });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  assert.equal((await get(server.port('http'), '/healthz', agent)).status, 200);
  const started = Date.now();
  await server.server.close(5000);
  assert.ok(Date.now() - started < 1500, `close took ${Date.now() - started} ms`);
});
