/**
 * The CAPABILITY list (RFC 3501 7.2.1), one RFC per entry. Only complete extensions are listed;
 * docs/imap.md keeps the same table for operators.
 * @module
 */

/** Extensions served after login, in the order advertised. */
const EXTENSIONS: ReadonlyArray<readonly [string, string]> = [
  ['LITERAL+', 'RFC 7888'],
  ['SASL-IR', 'RFC 4959'],
  ['ID', 'RFC 2971'],
  ['ENABLE', 'RFC 5161'],
  ['IDLE', 'RFC 2177'],
  ['NAMESPACE', 'RFC 2342'],
  ['UNSELECT', 'RFC 3691'],
  ['UIDPLUS', 'RFC 4315'],
  ['MOVE', 'RFC 6851'],
  ['CHILDREN', 'RFC 3348'],
  ['SPECIAL-USE', 'RFC 6154'],
  ['CREATE-SPECIAL-USE', 'RFC 6154'],
  ['LIST-EXTENDED', 'RFC 5258'],
  ['LIST-STATUS', 'RFC 5819'],
  ['QUOTA', 'RFC 9208'],
  ['QUOTA=RES-STORAGE', 'RFC 9208'],
  ['QUOTA=RES-MESSAGE', 'RFC 9208'],
  ['CONDSTORE', 'RFC 7162'],
  ['QRESYNC', 'RFC 7162'],
  ['ESEARCH', 'RFC 4731'],
  ['SEARCHRES', 'RFC 5182'],
  ['STATUS=SIZE', 'RFC 8438'],
  ['MULTIAPPEND', 'RFC 3502'],
];

/** Before login only these are of use (plus STARTTLS / LOGINDISABLED / AUTH=). */
const PRE_LOGIN: ReadonlySet<string> = new Set(['LITERAL+', 'SASL-IR', 'ID', 'ENABLE', 'IDLE']);

export interface CapabilityFacts {
  loggedIn: boolean;
  /** STARTTLS is possible: port 143 and not yet TLS (RFC 3501 6.2.1). */
  startTls: boolean;
  /** LOGIN and plaintext SASL are usable: TLS, or loopback with allow_plaintext_on_loopback. */
  plaintextAuth: boolean;
  /** SASL mechanisms the server can serve (auth/ availableMechanisms). */
  mechanisms: readonly string[];
  /** APPENDLIMIT (RFC 7889). */
  appendLimit: number;
}

export function capabilityList(facts: CapabilityFacts): string[] {
  const caps = ['IMAP4rev1'];
  if (!facts.loggedIn) {
    if (facts.startTls) caps.push('STARTTLS');
    // RFC 3501 6.2.3 / 7.2.1: LOGINDISABLED while credentials would travel in the clear, and no
    // AUTH= either (bearer tokens are credentials too).
    if (facts.plaintextAuth) caps.push(...facts.mechanisms.map((m) => `AUTH=${m}`));
    else caps.push('LOGINDISABLED');
    caps.push(...EXTENSIONS.map(([name]) => name).filter((name) => PRE_LOGIN.has(name)));
    return caps;
  }
  caps.push(...EXTENSIONS.map(([name]) => name), `APPENDLIMIT=${facts.appendLimit}`);
  return caps;
}

/** For docs and tests: each advertised extension with its RFC. */
export const EXTENSION_RFCS: ReadonlyMap<string, string> = new Map([...EXTENSIONS, ['APPENDLIMIT', 'RFC 7889']]);
