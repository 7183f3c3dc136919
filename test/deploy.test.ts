/**
 * The systemd unit (contrib/systemd/mailhaven.service) agrees with the program: it starts the
 * built entry point with `serve`, reloads with SIGHUP, stops with SIGTERM within more than the
 * default shutdown timeout, does not restart on a configuration error (exit status 78), and lets
 * the service write its data directory only. `systemd-analyze verify` runs when available.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ExitCode } from '../src/cli/exit-codes.js';
import { DEFAULT_SHUTDOWN_TIMEOUT } from '../src/config/defaults.js';

const UNIT = resolve(import.meta.dirname, '..', 'contrib', 'systemd', 'mailhaven.service');

/** INI sections → key → values (a key may repeat). Comments and blank lines skipped. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | null = null;
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const section = /^\[(\w+)\]$/.exec(trimmed);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const pair = /^(\w+)=(.*)$/.exec(trimmed);
    assert.ok(pair && current, `not a unit line: ${line}`);
    current.set(pair[1]!, [...(current.get(pair[1]!) ?? []), pair[2]!]);
  }
  return sections;
}

test('the systemd unit matches how the program starts, reloads, stops and fails', () => {
  const unit = parseUnit(readFileSync(UNIT, 'utf8'));
  assert.deepEqual([...unit.keys()], ['Unit', 'Service', 'Install']);
  const service = unit.get('Service')!;
  const one = (key: string): string => {
    const values = service.get(key) ?? [];
    assert.equal(values.length, 1, key);
    return values[0] ?? '';
  };
  assert.match(one('ExecStart'), /\/dist\/main\.js serve$/);
  assert.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID');
  assert.equal(one('KillSignal'), 'SIGTERM');
  assert.ok(Number(one('TimeoutStopSec')) > DEFAULT_SHUTDOWN_TIMEOUT);
  assert.equal(one('RestartPreventExitStatus'), String(ExitCode.config));
  assert.equal(one('AmbientCapabilities'), 'CAP_NET_BIND_SERVICE');
  assert.equal(one('User'), 'mailhaven');
  assert.equal(one('ProtectSystem'), 'strict');
  assert.equal(one('ReadWritePaths'), one('WorkingDirectory'));
  assert.equal(service.has('MemoryDenyWriteExecute'), false, 'V8 needs writable executable memory');
  assert.deepEqual(unit.get('Install')?.get('WantedBy'), ['multi-user.target']);
});

test('systemd-analyze accepts the unit (when systemd is installed)', (t) => {
  const result = spawnSync('systemd-analyze', ['verify', '--man=no', UNIT], { encoding: 'utf8' });
  if (result.error !== undefined) {
    t.skip('systemd-analyze is not installed here (a container without systemd)');
    return;
  }
  // Missing /usr/bin/node or user "mailhaven" on a build machine are not the unit's fault.
  const problems = result.stderr.split('\n').filter((line) => line.trim() !== '' && !/Command .* is not executable|No such file|user mailhaven/i.test(line));
  assert.deepEqual(problems, []);
});
