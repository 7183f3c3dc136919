/** What `mailhaven doctor` reports: one finding per thing checked, with what to do about it. */

export type DoctorArea = 'config' | 'tls' | 'listeners' | 'relay' | 'dns' | 'rdns';

export type FindingStatus = 'ok' | 'warn' | 'fail';

export interface Finding {
  area: DoctorArea;
  status: FindingStatus;
  /** What was found, one line. */
  message: string;
  /** What to do, one line; absent when nothing needs doing. */
  fix?: string;
}

export function ok(area: DoctorArea, message: string): Finding {
  return { area, status: 'ok', message };
}

export function warn(area: DoctorArea, message: string, fix: string): Finding {
  return { area, status: 'warn', message, fix };
}

export function fail(area: DoctorArea, message: string, fix: string): Finding {
  return { area, status: 'fail', message, fix };
}
