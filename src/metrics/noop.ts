/** Metrics that go nowhere: for tests and one-shot commands. */
import type { Metrics } from './types.js';

const nothing = (): void => undefined;

export const noopMetrics: Metrics = Object.freeze({
  connectionOpened: nothing,
  connectionClosed: nothing,
  connectionRefused: nothing,
  command: nothing,
  smtpDelivered: nothing,
  smtpRejected: nothing,
  authFailure: nothing,
  storeOperation: nothing,
  httpRequest: nothing,
});
