// The data API's pure parts: who a request is (request-header authentication against real
// certificates made with openssl) and which data it asks for (paths and query parameters).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authenticateRequest, parseRequestHeaderConfig, type RequestHeaderConfig } from '../../../operator/src/dataapi/requestheader.js';
import { HttpError, parseRoute } from '../../../operator/src/dataapi/server.js';
import { apiResourceList } from '../../../operator/src/dataapi/discovery.js';

let dir: string;

function makeCA(name: string): string {
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(dir, `${name}.key`)]);
  execFileSync('openssl', ['req', '-x509', '-new', '-key', join(dir, `${name}.key`), '-days', '1', '-subj', `/CN=${name}`, '-out', join(dir, `${name}.crt`)]);
  return readFileSync(join(dir, `${name}.crt`), 'utf8');
}

function leaf(name: string, cn: string, signer: string, eku = 'clientAuth'): X509Certificate {
  const key = join(dir, `${name}.key`), ext = join(dir, `${name}.ext`), crt = join(dir, `${name}.crt`);
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  execFileSync('bash', ['-c', `printf 'basicConstraints=CA:FALSE\\nkeyUsage=digitalSignature\\nextendedKeyUsage=${eku}\\n' > "${ext}"`]);
  execFileSync('bash', ['-c', `openssl req -new -key "${key}" -subj "/CN=${cn}" | openssl x509 -req -CA "${join(dir, `${signer}.crt`)}" -CAkey "${join(dir, `${signer}.key`)}" -CAcreateserial -days 1 -extfile "${ext}" -out "${crt}" 2>/dev/null`]);
  return new X509Certificate(readFileSync(crt));
}

let cfg: RequestHeaderConfig;
const headers = (h: Record<string, string[]>) => h;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ringtap-rh-'));
  const pem = makeCA('ca');
  makeCA('other');
  cfg = parseRequestHeaderConfig({
    'requestheader-client-ca-file': pem,
    'requestheader-allowed-names': '["front-proxy-client"]',
    'requestheader-username-headers': '["X-Remote-User"]',
    'requestheader-group-headers': '["X-Remote-Group"]',
    'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
  })!;
});

describe('request-header authentication', () => {
  it('takes the user, every group and the extras (keys percent-decoded) from the front proxy', () => {
    const cert = leaf('proxy', 'front-proxy-client', 'ca');
    const r = authenticateRequest(cfg, { authorized: true, cert }, headers({
      'x-remote-user': ['jane'], 'x-remote-group': ['dev', 'system:authenticated'], 'x-remote-extra-scopes': ['a', 'b'],
      'x-remote-extra-example.org%2fteam': ['blue'],
    }));
    expect(r).toEqual({ ok: true, user: { username: 'jane', groups: ['dev', 'system:authenticated'], extra: { scopes: ['a', 'b'], 'example.org/team': ['blue'] } } });
  });

  it.each([
    ['no CA configured', undefined, 'proxy', true, /no request-header CA is configured/],
    ['no client certificate', 'cfg', undefined, false, /no client certificate/],
    ['a certificate of another CA', 'cfg', 'impostor', true, /not signed by the request-header CA/],
    ['TLS did not verify the chain', 'cfg', 'proxy', false, /not signed by the request-header CA/],
    ['a name that is not allowed', 'cfg', 'stranger', true, /common name "someone" is not an allowed request-header client/],
    ['a server certificate', 'cfg', 'server', true, /not for client authentication/],
  ] as const)('refuses %s, whatever headers it sends', (_what, withCfg, certName, authorized, re) => {
    const certs: Record<string, () => X509Certificate> = {
      proxy: () => leaf('proxy2', 'front-proxy-client', 'ca'),
      impostor: () => leaf('impostor', 'front-proxy-client', 'other'),
      stranger: () => leaf('stranger', 'someone', 'ca'),
      server: () => leaf('server', 'front-proxy-client', 'ca', 'serverAuth'),
    };
    const r = authenticateRequest(withCfg ? cfg : undefined, { authorized, ...(certName ? { cert: certs[certName]!() } : {}) },
      headers({ 'x-remote-user': ['system:admin'], 'x-remote-group': ['system:masters'] }));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(re);
  });

  it('needs a user name', () => {
    const r = authenticateRequest(cfg, { authorized: true, cert: leaf('proxy3', 'front-proxy-client', 'ca') }, headers({ 'x-remote-group': ['g'] }));
    expect(r).toEqual({ ok: false, message: 'the API server sent no user name' });
  });

  it('reads no CA from a ConfigMap without one, and defaults the header names', () => {
    expect(parseRequestHeaderConfig({})).toBeUndefined();
    expect(parseRequestHeaderConfig({ 'requestheader-client-ca-file': readFileSync(join(dir, 'ca.crt'), 'utf8') })).toMatchObject({
      allowedNames: [], usernameHeaders: ['x-remote-user'], groupHeaders: ['x-remote-group'], extraPrefixes: ['x-remote-extra-'],
    });
  });
});

describe('routes', () => {
  const q = (s = '') => new URLSearchParams(s);
  it('parses the paths of both kinds, the long-running form, a file and the query', () => {
    expect(parseRoute('/namespaces/shop/packetcaptures/web/pcap', q('follow=true&fromStart=true&node=n1'))).toMatchObject({ kind: 'PacketCapture', namespace: 'shop', name: 'web', sub: 'pcap', node: 'n1' });
    expect(parseRoute('/watch/namespaces/shop/packetcaptures/web/pcap', q())).toMatchObject({ kind: 'PacketCapture', name: 'web', sub: 'pcap' });
    expect(parseRoute('/namespaces/shop/packetcaptures/web/files/n1/web-000003.pcapng', q())).toMatchObject({ sub: 'files', node: 'n1', file: 'web-000003.pcapng' });
    expect(parseRoute('/ipamonitors/mon/pcap', q())).toMatchObject({ kind: 'IPAMonitor', name: 'mon' });
    expect(parseRoute('/namespaces/shop/packetcaptures/web', q())).toMatchObject({ sub: 'files' });
  });

  it.each([
    ['/namespaces/shop/packetcaptures/web/logs', '', 404, /expected .*\{pcap\|files\}/],
    ['/ipamonitors/mon/pcap/extra', '', 404, /pcap takes no path after it/],
    ['/namespaces/shop/ipamonitors/mon/pcap', '', 404, /ipamonitors are cluster-scoped/],
    ['/packetcaptures/web/pcap', '', 404, /packetcaptures are namespaced/],
    ['/namespaces/Shop/packetcaptures/web/pcap', '', 400, /namespace "Shop" is not a valid name/],
    ['/namespaces/shop/packetcaptures/web/files/n1/..%2f..%2fetc%2fpasswd', '', 400, /file must be one of the names the files list gives/],
    ['/namespaces/shop/packetcaptures/web/pcap', 'follow=yes', 400, /follow: expected true or false, not "yes"/],
    ['/namespaces/shop/packetcaptures/web/pcap', 'fromStart=true', 400, /fromStart: only with follow=true/],
    ['/namespaces/shop/packetcaptures/web/files', 'follow=true', 400, /follow: only for pcap/],
    ['/namespaces/shop/packetcaptures/web/pcap', 'node=N_1', 400, /node "N_1" is not a valid node name/],
  ])('%s?%s: %i naming the part', (path, query, code, re) => {
    let err: unknown;
    try {
      parseRoute(path, q(query));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).code).toBe(code);
    expect((err as HttpError).message).toMatch(re);
  });

  it('discovery lists every kind with get only (no list or delete for the namespace and garbage collectors)', () => {
    const list = apiResourceList() as { resources: { name: string; verbs: string[] }[] };
    expect(list.resources.map((r) => r.name)).toEqual(['packetcaptures', 'packetcaptures/pcap', 'packetcaptures/files', 'ipamonitors', 'ipamonitors/pcap', 'ipamonitors/files']);
    expect(list.resources.every((r) => r.verbs.join() === 'get')).toBe(true);
  });
});
