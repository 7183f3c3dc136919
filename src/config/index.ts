export { loadConfig, locateConfigFile } from './load.js';
export type { LoadConfigOptions } from './load.js';
export { ConfigError } from './errors.js';
export type { ConfigIssue } from './errors.js';
export { DEFAULT_LIMITS, LISTENER_NAMES, STANDARD_PORTS, UNPRIVILEGED_PORT_OFFSET, defaultListen, defaultPort } from './defaults.js';
export { formatListenAddress, parseDuration, parseListenAddress, parseSize } from './units.js';
export type { Config, Limits, ListenAddress, ListenerName, OAuthIssuer } from './types.js';
