/**
 * Admin operations: validation plus store calls, shared by the CLI and (later) the HTTP admin API.
 * They never reach live sessions: every change is a store transaction whose change-log row
 * carries it to running servers (ARCHITECTURE.md, "cli/ ── admin operations ── store/").
 * @module
 */
import type { Account, Directory, Domain } from '../store/types.js';
import { StoreError } from '../store/types.js';
import { hashPassword as defaultHashPassword } from '../auth/password.js';
import { parseAddress, parseAliasSource, normalizeDomain } from './address.js';
import { AdminError } from './errors.js';
import { checkPassword, generatePassword } from './password-policy.js';

/** A domain as listed (no internal ids). */
export interface DomainInfo {
  name: string;
  users: number;
  aliases: number;
  createdAt: string;
}

/** An account as listed: never the password hash. */
export interface UserInfo {
  address: string;
  /** Bytes, or null when unlimited. */
  quotaBytes: number | null;
  usedBytes: number;
  usedMessages: number;
  createdAt: string;
}

export interface AliasInfo {
  address: string;
  targets: string[];
}

export interface AddUserOptions {
  /** The password to set; when absent a random one is generated and returned. */
  password?: string;
  quotaBytes?: number | null;
}

export interface AddUserResult {
  user: UserInfo;
  /** Set only when the password was generated: show it once, it is not stored anywhere. */
  generatedPassword?: string;
}

export interface AdminDependencies {
  store: Directory;
  /** Injected so tests and bulk tools can trade hashing cost; defaults to argon2id. */
  hashPassword?: (password: string) => Promise<string>;
}

export class AdminOperations {
  private readonly store: Directory;
  private readonly hashPassword: (password: string) => Promise<string>;

  constructor(deps: AdminDependencies) {
    this.store = deps.store;
    this.hashPassword = deps.hashPassword ?? defaultHashPassword;
  }

  // ---- domains -------------------------------------------------------------------------

  async addDomain(input: string): Promise<DomainInfo> {
    const name = normalizeDomain(input);
    if (await this.store.getDomain(name)) throw new AdminError('exists', `domain ${name} already exists`);
    const domain = await storeCall(() => this.store.addDomain(name), { exists: `domain ${name} already exists` });
    return domainInfo(domain, 0, 0);
  }

  /** Refuses while the domain has users or aliases, unless the store itself removes them. */
  async deleteDomain(input: string): Promise<void> {
    const name = normalizeDomain(input);
    if (!(await this.store.getDomain(name))) throw new AdminError('notFound', `no such domain: ${name}`);
    try {
      await this.store.deleteDomain(name);
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      if (err.code === 'notFound') throw new AdminError('notFound', `no such domain: ${name}`);
      if (err.code === 'hasChildren' || err.code === 'cannot' || err.code === 'exists' || err.code === 'invalid') {
        throw new AdminError('domainInUse', await this.domainInUseReason(name));
      }
      throw storeFailure(err);
    }
  }

  async listDomains(): Promise<DomainInfo[]> {
    const [domains, accounts, aliases] = await Promise.all([
      this.store.listDomains(),
      this.store.listAccounts(),
      this.store.listAliases(),
    ]);
    return domains
      .map((domain) =>
        domainInfo(
          domain,
          accounts.filter((account) => account.domainId === domain.id).length,
          aliases.filter((alias) => domainOf(alias.address) === domain.name).length,
        ),
      )
      .sort((a, b) => compareText(a.name, b.name));
  }

  // ---- users ---------------------------------------------------------------------------

  async addUser(input: string, options: AddUserOptions = {}): Promise<AddUserResult> {
    const { address, domain } = parseAddress(input);
    await this.requireDomain(domain, address);
    if (await this.store.getAccount(address)) throw new AdminError('exists', `user ${address} already exists`);
    if (await this.store.getAlias(address)) throw new AdminError('exists', `${address} is already an alias`);
    const generatedPassword = options.password === undefined ? generatePassword() : undefined;
    const password = options.password ?? generatedPassword ?? '';
    checkPassword(password, address);
    const passwordHash = await this.hashPassword(password);
    const account = await storeCall(() => this.store.addAccount(address, passwordHash, options.quotaBytes ?? null), {
      exists: `user ${address} already exists`,
      notFound: `unknown domain ${domain} (add it with: mailhaven domain add ${domain})`,
    });
    return generatedPassword === undefined ? { user: userInfo(account) } : { user: userInfo(account), generatedPassword };
  }

  async setPassword(input: string, password: string): Promise<void> {
    const address = await this.existingAccountAddress(input);
    checkPassword(password, address);
    const passwordHash = await this.hashPassword(password);
    await storeCall(() => this.store.setPassword(address, passwordHash), { notFound: noSuchUser(address) });
  }

  /** null removes the limit. */
  async setQuota(input: string, quotaBytes: number | null): Promise<void> {
    const address = await this.existingAccountAddress(input);
    await storeCall(() => this.store.setQuota(address, quotaBytes), { notFound: noSuchUser(address) });
  }

  async deleteUser(input: string): Promise<void> {
    const address = await this.existingAccountAddress(input);
    await storeCall(() => this.store.deleteAccount(address), { notFound: noSuchUser(address) });
  }

  async getUser(input: string): Promise<UserInfo> {
    const { address } = parseAddress(input);
    const account = await this.store.getAccount(address);
    if (!account) throw new AdminError('notFound', noSuchUser(address));
    return userInfo(account);
  }

  async listUsers(): Promise<UserInfo[]> {
    const accounts = await this.store.listAccounts();
    return accounts.map(userInfo).sort((a, b) => compareAddresses(a.address, b.address));
  }

  // ---- aliases -------------------------------------------------------------------------

  /**
   * An alias forwards a local address (or, for "@domain", every address of the domain that is
   * neither an account nor an alias) to one or more local or remote addresses.
   */
  async addAlias(sourceInput: string, targetInputs: readonly string[]): Promise<AliasInfo> {
    const source = parseAliasSource(sourceInput);
    await this.requireDomain(source.domain, source.address);
    if (targetInputs.length === 0) throw new AdminError('usage', `alias ${source.address} needs at least one target`);
    if (await this.store.getAlias(source.address)) throw new AdminError('exists', `alias ${source.address} already exists`);
    if (!source.catchAll && (await this.store.getAccount(source.address))) {
      throw new AdminError('exists', `${source.address} is already a user`);
    }
    const targets = await this.resolveTargets(source.address, targetInputs);
    await storeCall(() => this.store.addAlias(source.address, targets), { exists: `alias ${source.address} already exists` });
    return { address: source.address, targets };
  }

  async deleteAlias(input: string): Promise<void> {
    const source = parseAliasSource(input);
    if (!(await this.store.getAlias(source.address))) throw new AdminError('notFound', `no such alias: ${source.address}`);
    await storeCall(() => this.store.deleteAlias(source.address), { notFound: `no such alias: ${source.address}` });
  }

  async listAliases(): Promise<AliasInfo[]> {
    const aliases = await this.store.listAliases();
    return aliases
      .map((alias) => ({ address: alias.address, targets: [...alias.targets] }))
      .sort((a, b) => compareAddresses(a.address, b.address));
  }

  // ---- helpers -------------------------------------------------------------------------

  private async requireDomain(domain: string, address: string): Promise<Domain> {
    const found = await this.store.getDomain(domain);
    if (!found) {
      throw new AdminError('unknownDomain', `unknown domain ${domain} for ${address} (add it with: mailhaven domain add ${domain})`);
    }
    return found;
  }

  private async existingAccountAddress(input: string): Promise<string> {
    const { address } = parseAddress(input);
    if (!(await this.store.getAccount(address))) throw new AdminError('notFound', noSuchUser(address));
    return address;
  }

  /**
   * Canonical, de-duplicated targets. A target in one of our domains must exist (account,
   * alias or the domain's catch-all), so a typo is caught now rather than at delivery time.
   */
  private async resolveTargets(source: string, inputs: readonly string[]): Promise<string[]> {
    const targets: string[] = [];
    for (const input of inputs) {
      const { address, domain } = parseAddress(input);
      if (address === source) throw new AdminError('usage', `alias ${source} cannot point to itself`);
      if (targets.includes(address)) continue;
      if ((await this.store.getDomain(domain)) && !(await this.isLocalRecipient(address, domain))) {
        throw new AdminError('notFound', `alias target ${address} is in local domain ${domain} but is neither a user nor an alias`);
      }
      targets.push(address);
    }
    return targets;
  }

  private async isLocalRecipient(address: string, domain: string): Promise<boolean> {
    if (await this.store.getAccount(address)) return true;
    if (await this.store.getAlias(address)) return true;
    return (await this.store.getAlias(`@${domain}`)) !== null;
  }

  private async domainInUseReason(name: string): Promise<string> {
    const [info] = (await this.listDomains()).filter((domain) => domain.name === name);
    const users = info?.users ?? 0;
    const aliases = info?.aliases ?? 0;
    const parts = [plural(users, 'user'), plural(aliases, 'alias', 'aliases')].filter((part) => !part.startsWith('0 '));
    const what = parts.length > 0 ? parts.join(' and ') : 'data';
    return `domain ${name} still has ${what}; delete them first`;
  }
}

/** Runs a store call, turning the StoreError codes a caller expects into AdminErrors with its wording. */
async function storeCall<T>(call: () => Promise<T>, messages: { exists?: string; notFound?: string }): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    if (err.code === 'exists' && messages.exists !== undefined) throw new AdminError('exists', messages.exists);
    if (err.code === 'notFound' && messages.notFound !== undefined) throw new AdminError('notFound', messages.notFound);
    throw storeFailure(err);
  }
}

function storeFailure(err: StoreError): AdminError {
  return new AdminError('store', `store: ${err.message}`);
}

function noSuchUser(address: string): string {
  return `no such user: ${address}`;
}

function domainInfo(domain: Domain, users: number, aliases: number): DomainInfo {
  return { name: domain.name, users, aliases, createdAt: domain.createdAt.toISOString() };
}

function userInfo(account: Account): UserInfo {
  return {
    address: account.address,
    quotaBytes: account.quotaBytes,
    usedBytes: account.usedBytes,
    usedMessages: account.usedMessages,
    createdAt: account.createdAt.toISOString(),
  };
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

/** Sorts by domain, then local part, so a listing groups each domain's addresses. */
function compareAddresses(a: string, b: string): number {
  return compareText(domainOf(a), domainOf(b)) || compareText(a, b);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}
