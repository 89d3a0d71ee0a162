/**
 * Which webhook URLs ops can save: https only, nothing that points into a private,
 * loopback or link-local network in any spelling, no user info; locally the machine itself.
 * Through the API (the German message at the field) and the policy function.
 */
import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import { checkWebhookUrl, URL_MESSAGES } from '../../worker/webhooks/url-policy';
import { OPS, postJsonInit } from './admin-helpers';
import { adminRequest, resetWebhooks } from './webhooks-helpers';

const prod = (url: string) => checkWebhookUrl(url, { allowLoopback: false });
const dev = (url: string) => checkWebhookUrl(url, { allowLoopback: true });

function create(url: unknown, environment = 'production') {
  return adminRequest('/api/admin/webhooks', postJsonInit({ url, events: ['lead.confirmed'] }, OPS()), {
    ENVIRONMENT: environment,
  });
}

beforeEach(resetWebhooks);

describe('POST /api/admin/webhooks refuses a URL', () => {
  it('in a private range with 400 and a German message at the url field', async () => {
    const res = await create('https://192.168.1.10/hook');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ ok: false, errors: { url: URL_MESSAGES.privateIp } });
    const stored = await env.DB.prepare('SELECT COUNT(*) AS n FROM webhook_endpoints').first<{ n: number }>();
    expect(stored!.n).toBe(0);
  });

  it('of the cloud metadata service', async () => {
    const res = await create('https://169.254.169.254/latest/meta-data/');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: { url: string } }).errors.url).toContain('169.254.169.254');
  });

  it('without https in production, with a hint that says so', async () => {
    const res = await create('http://hooks.example.com/in');
    expect(await res.json()).toEqual({ ok: false, errors: { url: URL_MESSAGES.https } });
  });

  it('on this machine in production, but takes it in local development', async () => {
    expect((await create('http://127.0.0.1:4911/hook')).status).toBe(400);
    expect((await create('http://localhost:4911/hook')).status).toBe(400);
    expect((await create('http://127.0.0.1:4911/hook', 'development')).status).toBe(201);
    expect((await create('http://localhost:4911/hook', 'development')).status).toBe(201);
  });

  it('in a private range even in local development', async () => {
    const res = await create('http://10.0.0.5/hook', 'development');
    expect(await res.json()).toEqual({ ok: false, errors: { url: URL_MESSAGES.httpsLocal } });
    const res2 = await create('https://10.0.0.5/hook', 'development');
    expect(await res2.json()).toEqual({ ok: false, errors: { url: URL_MESSAGES.privateIp } });
  });

  it('that is not a URL, or not a string', async () => {
    expect(await (await create('hooks.example.com')).json()).toEqual({
      ok: false,
      errors: { url: URL_MESSAGES.invalid },
    });
    expect(await (await create(42)).json()).toEqual({ ok: false, errors: { url: URL_MESSAGES.invalid } });
  });
});

describe('the URL policy', () => {
  it('takes ordinary public https URLs, keeping path and query', () => {
    expect(prod('https://hooks.zapier.com/hooks/catch/123/abc/')).toEqual({
      ok: true,
      url: 'https://hooks.zapier.com/hooks/catch/123/abc/',
    });
    expect(prod('https://hook.eu1.make.com/xyz?x=1').ok).toBe(true);
    expect(prod('https://8.8.8.8/hook').ok).toBe(true);
    expect(prod('https://[2606:4700:4700::1111]/hook').ok).toBe(true);
  });

  // Private, loopback, link-local and reserved IPv4
  it.each([
    'https://10.1.2.3/',
    'https://172.16.0.1/',
    'https://172.31.255.255/',
    'https://192.168.0.1/',
    'https://127.0.0.1/',
    'https://127.255.0.9/',
    'https://0.0.0.0/',
    'https://169.254.169.254/',
    'https://100.64.0.1/',
    'https://198.18.0.1/',
    'https://224.0.0.1/',
    'https://255.255.255.255/',
  ])('refuses %s', (url) => {
    expect(prod(url)).toEqual({ ok: false, message: URL_MESSAGES.privateIp });
  });

  // Numeric, hex and octal spellings that the URL parser turns into those addresses
  it.each([
    'https://2130706433/', // 127.0.0.1 as one number
    'https://0x7f000001/',
    'https://0x7f.0.0.1/',
    'https://0177.0.0.1/',
    'https://127.1/',
    'https://017700000001/',
    'https://0xa9fea9fe/', // 169.254.169.254
    'https://3232235777/', // 192.168.1.1
  ])('refuses the disguised address %s', (url) => {
    expect(prod(url)).toEqual({ ok: false, message: URL_MESSAGES.privateIp });
  });

  // IPv6 loopback, link-local, unique local and IPv4 inside IPv6
  it.each([
    'https://[::1]/',
    'https://[::]/',
    'https://[0:0:0:0:0:0:0:1]/',
    'https://[fe80::1]/',
    'https://[febf::1]/',
    'https://[fc00::1]/',
    'https://[fd12:3456::1]/',
    'https://[ff02::1]/',
    'https://[::ffff:127.0.0.1]/',
    'https://[::ffff:a9fe:a9fe]/', // mapped 169.254.169.254
    'https://[::ffff:10.0.0.1]/',
    'https://[::127.0.0.1]/', // IPv4-compatible
    'https://[64:ff9b::a00:1]/', // NAT64 of 10.0.0.1
    'https://[2002:c0a8:101::1]/', // 6to4 of 192.168.1.1
    'https://[2001:db8::1]/',
  ])('refuses the IPv6 address %s', (url) => {
    expect(prod(url)).toEqual({ ok: false, message: URL_MESSAGES.privateIp });
  });

  it('takes IPv4-mapped and 6to4 forms of public addresses', () => {
    expect(prod('https://[::ffff:8.8.8.8]/').ok).toBe(true);
    expect(prod('https://[2002:808:808::1]/').ok).toBe(true);
  });

  // Names that are local by definition
  it.each([
    'https://localhost/',
    'https://LOCALHOST./',
    'https://api.localhost/',
    'https://printer.local/',
    'https://metadata.google.internal/computeMetadata/v1/',
    'https://metadata/',
    'https://intranet/',
    'https://nas.lan/',
    'https://router.home.arpa/',
    'https://1.0.0.127.in-addr.arpa/',
  ])('refuses the local name %s', (url) => {
    expect(prod(url)).toEqual({ ok: false, message: URL_MESSAGES.localName });
  });

  // Public names whose answer is known without asking DNS
  it.each([
    'https://10.0.0.1.nip.io/',
    'https://app.192.168.1.1.nip.io/',
    'https://127-0-0-1.sslip.io/',
    'https://app-169-254-169-254.sslip.io/',
    'https://7f000001.nip.io/',
    'https://localtest.me/',
    'https://anything.lvh.me/',
  ])('refuses %s, which resolves to a private address', (url) => {
    expect(prod(url)).toEqual({ ok: false, message: URL_MESSAGES.privateIp });
  });

  it('takes wildcard names that echo a public address', () => {
    expect(prod('https://8.8.8.8.nip.io/').ok).toBe(true);
    expect(prod('https://1-1-1-1.sslip.io/').ok).toBe(true);
  });

  it('refuses a user name or password in the URL, even an empty one', () => {
    for (const url of [
      'https://user:pass@hooks.example.com/',
      'https://user@hooks.example.com/',
      'https://:@hooks.example.com/',
      'https://hooks.example.com@10.0.0.1/',
    ])
      expect(prod(url)).toEqual({ ok: false, message: URL_MESSAGES.userinfo });
  });

  it('refuses other schemes and hosts that end in a number but are no address', () => {
    expect(prod('ftp://hooks.example.com/').ok).toBe(false);
    expect(prod('javascript:alert(1)').ok).toBe(false);
    expect(prod('https://1.2.3.4.5/').ok).toBe(false);
  });

  it('locally lets only the machine itself through over http', () => {
    expect(dev('http://127.0.0.1:4900/x').ok).toBe(true);
    expect(dev('http://localhost:4900/x').ok).toBe(true);
    expect(dev('http://[::1]:4900/x').ok).toBe(true);
    expect(dev('http://192.168.1.1/x')).toEqual({ ok: false, message: URL_MESSAGES.httpsLocal });
    expect(dev('https://169.254.169.254/x')).toEqual({ ok: false, message: URL_MESSAGES.privateIp });
  });
});
