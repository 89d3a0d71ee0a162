/**
 * Web Crypto as workerd runs it, for the CPU estimate in Node (cpu.mjs): HMAC and SHA
 * digests computed at once on the calling thread (node:crypto's OpenSSL), the promise
 * already settled. workerd's SubtleCrypto works so (BoringSSL on the isolate's thread);
 * Node's hands every call to its thread pool and back, which on this VM costs the main
 * thread more than the hash itself, and leaves the hashing on another thread, uncounted.
 * With this the estimate counts the hashing and not the hand-off.
 *
 * Only raw HMAC keys, HMAC sign/verify and SHA digests are done here; anything else (JWK
 * and public keys of the admin's Access check) goes to Node's own SubtleCrypto.
 */
import { createHash, createHmac, timingSafeEqual, webcrypto } from 'node:crypto';

const RAW = Symbol('raw HMAC key');
const hashName = (alg) =>
  String(typeof alg === 'string' ? alg : alg?.name)
    .toLowerCase()
    .replace('-', '');
const bytes = (data) =>
  ArrayBuffer.isView(data)
    ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    : Buffer.from(new Uint8Array(data));
const arrayBuffer = (buf) => buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
const isHmac = (alg) => (typeof alg === 'string' ? alg : alg?.name)?.toUpperCase() === 'HMAC';

const real = webcrypto.subtle;
const subtle = {
  async importKey(format, keyData, algorithm, extractable, usages) {
    if (format !== 'raw' || !isHmac(algorithm))
      return real.importKey(format, keyData, algorithm, extractable, usages);
    return {
      type: 'secret',
      extractable,
      usages,
      algorithm: { name: 'HMAC', hash: { name: algorithm.hash?.name ?? algorithm.hash } },
      [RAW]: Buffer.from(bytes(keyData)),
    };
  },
  async sign(algorithm, key, data) {
    if (!key?.[RAW]) return real.sign(algorithm, key, data);
    return arrayBuffer(createHmac(hashName(key.algorithm.hash), key[RAW]).update(bytes(data)).digest());
  },
  async verify(algorithm, key, signature, data) {
    if (!key?.[RAW]) return real.verify(algorithm, key, signature, data);
    const mac = createHmac(hashName(key.algorithm.hash), key[RAW]).update(bytes(data)).digest();
    const sig = bytes(signature);
    return mac.length === sig.length && timingSafeEqual(mac, sig);
  },
  async digest(algorithm, data) {
    return arrayBuffer(createHash(hashName(algorithm)).update(bytes(data)).digest());
  },
};

/** Puts the synchronous SubtleCrypto in place of Node's; returns the function that undoes it. */
export function useSyncSubtle() {
  const before = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
  const crypto = {
    subtle: new Proxy(subtle, { get: (t, k) => t[k] ?? real[k]?.bind(real) }),
    getRandomValues: (array) => webcrypto.getRandomValues(array),
    randomUUID: () => webcrypto.randomUUID(),
  };
  Object.defineProperty(globalThis, 'crypto', { value: crypto, configurable: true, writable: true });
  return () => Object.defineProperty(globalThis, 'crypto', before);
}
