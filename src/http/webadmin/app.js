// @ts-check
/* global document, sessionStorage, fetch, confirm, HTMLElement, HTMLInputElement -- a browser script (lint knows Node globals) */
/**
 * The web admin page: log in with an admin token, then domains, users, aliases, DNS records
 * and the queue through the JSON API (/api, docs/http.md). Plain DOM, no framework; every value
 * from the server goes into the page as text (textContent), never as HTML.
 *
 * Type-checked by TypeScript through JSDoc (./tsconfig.json).
 */

/** @typedef {{ name: string; users: number; aliases: number; createdAt: string }} DomainInfo */
/** @typedef {{ address: string; quotaBytes: number | null; usedBytes: number; usedMessages: number; createdAt: string }} UserInfo */
/** @typedef {{ address: string; targets: string[] }} AliasInfo */
/** @typedef {{ purpose: string; name: string; type: string; value: string; zone: string; note: string }} DnsRecord */
/** @typedef {{ name: string; type: string; expected: string; found: string[]; status: string; detail?: string }} DnsCheck */
/** @typedef {{ domain: string; hostname: string; records: DnsRecord[]; notConfigured: { purpose: string; reason: string }[]; checks?: DnsCheck[] }} DnsView */
/** @typedef {{ id: number; sender: string; recipients: { address: string; kind: string }[]; size: number; createdAt: string; nextAttemptAt: string; attempts: number }} QueueEntry */
/** @typedef {{ available: boolean; entries: QueueEntry[] }} QueueView */

const TOKEN_KEY = 'mailhaven-admin-token';

/** Thrown for every non-2xx answer, with the API's error message. */
class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * @param {string} id
 * @returns {HTMLElement}
 */
function byId(id) {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`missing element #${id}`);
  return element;
}

/**
 * @param {string} id
 * @returns {HTMLTableSectionElement}
 */
function tableBody(id) {
  const body = byId(id).querySelector('tbody');
  if (body === null) throw new Error(`table #${id} has no tbody`);
  return body;
}

/**
 * @param {string} id
 * @returns {HTMLInputElement}
 */
function input(id) {
  const element = byId(id);
  if (!(element instanceof HTMLInputElement)) throw new Error(`#${id} is not an input`);
  return element;
}

/** @returns {string | null} */
function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/**
 * One API call with the token. Resolves to the parsed JSON (undefined for 204).
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<unknown>}
 */
async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { Authorization: `Bearer ${storedToken() ?? ''}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  if (response.status === 204) return undefined;
  const data = /** @type {unknown} */ (await response.json().catch(() => null));
  if (!response.ok) {
    const error = /** @type {{ error?: { message?: string } } | null} */ (data);
    throw new ApiError(response.status, error?.error?.message ?? `${response.status} ${response.statusText}`);
  }
  return data;
}

/**
 * @param {string} text
 * @param {'info' | 'error'} [kind]
 */
function say(text, kind = 'info') {
  const message = byId('message');
  message.textContent = text;
  message.dataset.kind = kind;
}

/** Shows an error; a refused token sends the user back to the login form. */
function fail(/** @type {unknown} */ error) {
  if (error instanceof ApiError && error.status === 401) {
    logout();
    say('The token was refused. Log in again.', 'error');
    return;
  }
  say(error instanceof Error ? error.message : String(error), 'error');
}

/**
 * A table row of text cells, plus optional buttons in the last cell.
 * @param {Array<string | number>} cells
 * @param {Array<{ label: string; onClick: () => void }>} [actions]
 */
function row(cells, actions = []) {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const td = document.createElement('td');
    td.textContent = String(cell);
    tr.append(td);
  }
  if (actions.length > 0) {
    const td = document.createElement('td');
    for (const action of actions) {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = action.label;
      button.addEventListener('click', action.onClick);
      td.append(button);
    }
    tr.append(td);
  }
  return tr;
}

/**
 * @param {number | null} bytes
 * @returns {string}
 */
function size(bytes) {
  if (bytes === null) return 'unlimited';
  const units = ['G', 'M', 'K'];
  for (const [index, unit] of units.entries()) {
    const scale = 1024 ** (units.length - index);
    if (bytes >= scale) return `${(bytes / scale).toFixed(bytes % scale === 0 ? 0 : 1)}${unit}`;
  }
  return String(bytes);
}

/** @param {string} iso */
function date(iso) {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

// ---- sections ---------------------------------------------------------------------------

async function loadDomains() {
  const domains = /** @type {DomainInfo[]} */ (await api('GET', '/api/domains'));
  const body = tableBody('domain-table');
  body.replaceChildren(
    ...domains.map((domain) =>
      row([domain.name, domain.users, domain.aliases, date(domain.createdAt)], [
        { label: 'DNS records', onClick: () => void showDns(domain.name, false).catch(fail) },
        { label: 'Delete', onClick: () => void deleteDomain(domain.name).catch(fail) },
      ]),
    ),
  );
}

/** @param {string} name */
async function deleteDomain(name) {
  await api('DELETE', `/api/domains/${encodeURIComponent(name)}`);
  say(`Domain ${name} deleted.`);
  byId('dns').hidden = true;
  await loadDomains();
}

/** The domain whose records are shown, for the "Check DNS now" button. */
let dnsDomain = '';

/**
 * @param {string} domain
 * @param {boolean} check
 */
async function showDns(domain, check) {
  dnsDomain = domain;
  const view = /** @type {DnsView} */ (await api('GET', `/api/domains/${encodeURIComponent(domain)}/dns${check ? '?check=1' : ''}`));
  byId('dns-title').textContent = `DNS records for ${view.domain}`;
  tableBody('dns-table').replaceChildren(
    ...view.records.map((record, index) => {
      const checked = view.checks?.[index];
      const status = checked === undefined ? 'not checked' : `${checked.status}${checked.detail ? ` (${checked.detail})` : ''}`;
      const tr = row([record.name, record.type, record.value, record.note, status]);
      tr.dataset.status = checked?.status ?? 'unchecked';
      return tr;
    }),
  );
  byId('dns-missing').replaceChildren(
    ...view.notConfigured.map((item) => {
      const li = document.createElement('li');
      li.textContent = `${item.purpose.toUpperCase()}: not configured — ${item.reason}`;
      return li;
    }),
  );
  byId('dns').hidden = false;
}

async function loadUsers() {
  const users = /** @type {UserInfo[]} */ (await api('GET', '/api/users'));
  tableBody('user-table').replaceChildren(
    ...users.map((user) =>
      row([user.address, size(user.quotaBytes), size(user.usedBytes), user.usedMessages], [
        { label: 'Delete', onClick: () => void deleteUser(user.address).catch(fail) },
      ]),
    ),
  );
}

/** @param {string} address */
async function deleteUser(address) {
  if (!confirm(`Delete ${address} and all its mail?`)) return;
  await api('DELETE', `/api/users/${encodeURIComponent(address)}`);
  say(`User ${address} deleted.`);
  await loadUsers();
}

async function loadAliases() {
  const aliases = /** @type {AliasInfo[]} */ (await api('GET', '/api/aliases'));
  tableBody('alias-table').replaceChildren(
    ...aliases.map((alias) =>
      row([alias.address, alias.targets.join(', ')], [{ label: 'Delete', onClick: () => void deleteAlias(alias.address).catch(fail) }]),
    ),
  );
}

/** @param {string} address */
async function deleteAlias(address) {
  await api('DELETE', `/api/aliases/${encodeURIComponent(address)}`);
  say(`Alias ${address} deleted.`);
  await loadAliases();
}

async function loadQueue() {
  const queue = /** @type {QueueView} */ (await api('GET', '/api/queue'));
  const empty = queue.entries.length === 0;
  byId('queue-empty').hidden = !empty;
  byId('queue-table').hidden = empty;
  tableBody('queue-table').replaceChildren(
    ...queue.entries.map((entry) =>
      row([
        entry.id,
        entry.sender === '' ? '<>' : entry.sender,
        entry.recipients.map((recipient) => recipient.address).join(', '),
        size(entry.size),
        date(entry.createdAt),
        date(entry.nextAttemptAt),
        entry.attempts,
      ]),
    ),
  );
}

/** @type {Record<string, () => Promise<void>>} */
const LOADERS = { domains: loadDomains, users: loadUsers, aliases: loadAliases, queue: loadQueue };

/** @param {string} tab */
async function showTab(tab) {
  for (const button of document.querySelectorAll('nav button[data-tab]')) {
    button.setAttribute('aria-pressed', String(button.getAttribute('data-tab') === tab));
  }
  for (const panel of document.querySelectorAll('[data-panel]')) {
    if (panel instanceof HTMLElement) panel.hidden = panel.id !== tab;
  }
  await (LOADERS[tab] ?? loadDomains)();
}

// ---- forms ------------------------------------------------------------------------------

/**
 * Runs a form's action on submit, with errors shown and the form kept as typed on failure.
 * @param {string} id
 * @param {() => Promise<void>} action
 */
function onSubmit(id, action) {
  const form = byId(id);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    action().catch(fail);
  });
}

async function addDomain() {
  const name = input('domain-name').value.trim();
  const domain = /** @type {DomainInfo} */ (await api('POST', '/api/domains', { name }));
  input('domain-name').value = '';
  say(`Domain ${domain.name} added.`);
  await loadDomains();
}

async function addUser() {
  const address = input('user-address').value.trim();
  const password = input('user-password').value;
  const quota = input('user-quota').value.trim();
  /** @type {{ address: string; password?: string; quota?: string }} */
  const request = { address };
  if (password !== '') request.password = password;
  if (quota !== '') request.quota = quota;
  const result = /** @type {{ user: UserInfo; generatedPassword?: string }} */ (await api('POST', '/api/users', request));
  for (const id of ['user-address', 'user-password', 'user-quota']) input(id).value = '';
  const generated = byId('generated-password');
  generated.hidden = result.generatedPassword === undefined;
  generated.textContent = result.generatedPassword === undefined ? '' : `Generated password for ${result.user.address} (shown once): ${result.generatedPassword}`;
  say(`User ${result.user.address} added.`);
  await loadUsers();
}

async function addAlias() {
  const address = input('alias-address').value.trim();
  const targets = input('alias-targets')
    .value.split(',')
    .map((target) => target.trim())
    .filter((target) => target !== '');
  const alias = /** @type {AliasInfo} */ (await api('POST', '/api/aliases', { address, targets }));
  input('alias-address').value = '';
  input('alias-targets').value = '';
  say(`Alias ${alias.address} added.`);
  await loadAliases();
}

async function login() {
  sessionStorage.setItem(TOKEN_KEY, input('token').value.trim());
  input('token').value = '';
  await enter();
}

/** Checks the stored token and shows the admin sections. */
async function enter() {
  const who = /** @type {{ token: string }} */ (await api('GET', '/api/whoami'));
  byId('who').textContent = `Logged in with token "${who.token}"`;
  byId('who').hidden = false;
  byId('logout').hidden = false;
  byId('login').hidden = true;
  byId('app').hidden = false;
  say('');
  await showTab('domains');
}

function logout() {
  sessionStorage.removeItem(TOKEN_KEY);
  byId('who').hidden = true;
  byId('logout').hidden = true;
  byId('app').hidden = true;
  byId('login').hidden = false;
}

function start() {
  onSubmit('login-form', login);
  onSubmit('domain-form', addDomain);
  onSubmit('user-form', addUser);
  onSubmit('alias-form', addAlias);
  byId('logout').addEventListener('click', () => {
    logout();
    say('Logged out.');
  });
  byId('dns-check').addEventListener('click', () => void showDns(dnsDomain, true).catch(fail));
  for (const button of document.querySelectorAll('nav button[data-tab]')) {
    button.addEventListener('click', () => void showTab(button.getAttribute('data-tab') ?? 'domains').catch(fail));
  }
  if (storedToken() !== null) enter().catch(fail);
}

start();
