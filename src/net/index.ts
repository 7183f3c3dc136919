export { ListenerSet, ListenError, normalizeIp, perIpKey } from './listeners.js';
export type { ListenerSetOptions } from './listeners.js';
export { TlsManager, TlsConfigError } from './tls.js';
export type { CertificateInfo, ReloadResult, TlsManagerOptions } from './tls.js';
export { upgradeToTls, TlsHandshakeError, DEFAULT_HANDSHAKE_TIMEOUT_MS } from './starttls.js';
export type { UpgradeOptions } from './starttls.js';
export {
  IMPLICIT_TLS_LISTENERS,
  LISTENER_FAMILY,
  defaultRefuse,
  notAvailableReply,
  placeholderHandler,
  replyAndClose,
  tooManyConnectionsReply,
} from './fallback.js';
export type { ProtocolFamily } from './fallback.js';
export type { ConnectionHandler, ConnectionInfo, ProtocolHandlers, RefusalInfo } from './types.js';
