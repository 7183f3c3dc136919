/**
 * What an account password must be, and how generated passwords are made.
 *
 * Weak (refused): empty; fewer than 8 characters (Unicode code points); equal, ignoring case,
 * to the address or its local part; more than 1024 characters; containing control characters
 * (CR, LF and NUL cannot travel through IMAP LOGIN or SASL PLAIN, RFC 4616 2).
 * @module
 */
import { randomInt } from 'node:crypto';
import { AdminError } from './errors.js';

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;
/** Letters and digits without look-alikes (0/O, 1/l/I): easy to read out and type. */
const GENERATED_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
/** 20 symbols of a 57-symbol alphabet: 20 × log2(57) ≈ 116 bits. */
const GENERATED_LENGTH = 20;

/** Throws AdminError('weakPassword') with the reason when the password is not acceptable. */
export function checkPassword(password: string, address: string): void {
  const reason = passwordProblem(password, address);
  if (reason !== null) throw new AdminError('weakPassword', reason);
}

function passwordProblem(password: string, address: string): string | null {
  if (password === '') return 'empty password';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(password)) return 'password contains control characters';
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH) return `weak password: fewer than ${MIN_PASSWORD_LENGTH} characters`;
  if (length > MAX_PASSWORD_LENGTH) return `password longer than ${MAX_PASSWORD_LENGTH} characters`;
  const lower = password.toLowerCase();
  const localPart = address.slice(0, address.lastIndexOf('@'));
  if (lower === address || lower === localPart) return 'weak password: same as the address';
  return null;
}

/** A random password from a CSPRNG, about 116 bits of entropy. */
export function generatePassword(): string {
  let password = '';
  for (let i = 0; i < GENERATED_LENGTH; i++) password += GENERATED_ALPHABET[randomInt(GENERATED_ALPHABET.length)];
  return password;
}
