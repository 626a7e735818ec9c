// The data API's front door: through the API server it is discovered and answers with
// Kubernetes Status objects; straight at the operator's port, identity headers count only with
// the front proxy's certificate (signed by the request-header CA, with an allowed name).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataPath } from '../../crds/src/dataapi.js';
import { cluster, runDir } from '../support/cluster.js';
import { dataApiAddress, kubectl, run } from '../support/dataapi.js';
import { waitFor } from '../support/kube.js';

let work: string;
let url: string;
const admin = () => process.env.KUBECONFIG!;

/** A client certificate CN=cn signed by ca (a directory's ca.crt/ca.key, made if missing). */
function clientCert(dir: string, name: string, cn: string, ca: { crt: string; key: string }): { crt: string; key: string } {
  const crt = join(dir, `${name}.crt`), key = join(dir, `${name}.key`), ext = join(dir, `${name}.ext`);
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  execFileSync('bash', ['-c', `printf 'basicConstraints=CA:FALSE\\nkeyUsage=digitalSignature\\nextendedKeyUsage=clientAuth\\n' > "${ext}"`]);
  execFileSync('bash', ['-c', `openssl req -new -key "${key}" -subj "/CN=${cn}" | openssl x509 -req -CA "${ca.crt}" -CAkey "${ca.key}" -CAcreateserial -days 1 -extfile "${ext}" -out "${crt}" 2>/dev/null`]);
  return { crt, key };
}

function selfSignedCA(dir: string, name: string): { crt: string; key: string } {
  const crt = join(dir, `${name}.crt`), key = join(dir, `${name}.key`);
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  execFileSync('openssl', ['req', '-x509', '-new', '-key', key, '-days', '1', '-subj', `/CN=${name}`, '-out', crt]);
  return { crt, key };
}

/** GET straight at operator replica 0's data API port: the HTTP status and the body. */
async function direct(path: string, opts: { cert?: { crt: string; key: string }; headers?: string[] } = {}): Promise<{ code: number; body: { kind?: string; code?: number; reason?: string; message?: string } }> {
  const r = await run('curl', ['-sk', '-w', '\n%{http_code}', ...(opts.cert ? ['--cert', opts.cert.crt, '--key', opts.cert.key] : []),
    ...(opts.headers ?? []).flatMap((h) => ['-H', h]), `${url}${path}`]);
  const i = r.stdout.lastIndexOf('\n');
  let body = {};
  try {
    body = JSON.parse(r.stdout.slice(0, i));
  } catch {
    /* not JSON */
  }
  return { code: Number(r.stdout.slice(i + 1)), body };
}

const forged = ['X-Remote-User: system:admin', 'X-Remote-Group: system:masters'];
const pcap = dataPath('PacketCapture', 'default', 'anything', 'pcap');

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ringtap-dataapi-int-'));
  await cluster(['ringtap', 'start'], { ...process.env, RINGTAP_AGENTS: '0' });
  const a = dataApiAddress(0);
  url = `https://${a.host}:${a.port}`;
  await waitFor('the APIService to be Available', async () => {
    const r = await cluster(['kubectl', 'get', 'apiservice', 'v1alpha1.data.ringtap.dev', '-o', 'jsonpath={.status.conditions[?(@.type=="Available")].status}']);
    return r.trim() === 'True' || undefined;
  }, 30_000, 200);
}, 120_000);

afterAll(async () => {
  await cluster(['ringtap', 'stop']).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}, 60_000);

describe('through the API server', () => {
  test('discovery: kubectl get --raw and kubectl api-resources show the group', async () => {
    const r = await kubectl(admin(), ['get', '--raw', '/apis/data.ringtap.dev/v1alpha1']);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as { kind: string; resources: { name: string; verbs: string[] }[] };
    expect(list.kind).toBe('APIResourceList');
    expect(list.resources.map((x) => x.name)).toEqual(expect.arrayContaining(['packetcaptures/pcap', 'packetcaptures/files', 'ipamonitors/pcap', 'ipamonitors/files']));
    const ar = await kubectl(admin(), ['api-resources', '--api-group=data.ringtap.dev', '--cached=false', '-o', 'name']);
    expect(ar.stdout.split('\n').filter(Boolean).sort()).toEqual(['ipamonitors.data.ringtap.dev', 'packetcaptures.data.ringtap.dev']);
    // The CRDs keep their plain names: the data group ranks below them.
    expect((await kubectl(admin(), ['get', 'packetcaptures', '-A', '-v=6'])).stderr).toMatch(/apis\/ringtap\.dev\/v1alpha1\/packetcaptures/);
  }, 60_000);

  test('errors are Kubernetes Status objects, printed by kubectl as its own', async () => {
    const r = await kubectl(admin(), ['get', '--raw', dataPath('PacketCapture', 'default', 'no-such-capture', 'pcap')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Error from server \(NotFound\): packetcaptures\.ringtap\.dev "no-such-capture" not found/);
    const bad = await kubectl(admin(), ['get', '--raw', `${dataPath('PacketCapture', 'default', 'x', 'pcap')}?follow=maybe`]);
    expect(bad.stderr).toMatch(/Error from server \(BadRequest\): follow: expected true or false, not "maybe"/);
  }, 30_000);
});

describe('straight at the operator\'s port', () => {
  test('forged X-Remote-User: system:admin without the front proxy\'s certificate: 401 Status', async () => {
    const r = await direct(pcap, { headers: forged });
    expect(r).toMatchObject({ code: 401, body: { kind: 'Status', code: 401, reason: 'Unauthorized' } });
    expect(r.body.message).toMatch(/no client certificate/);
    // Discovery too: nothing is served to an unauthenticated caller.
    expect((await direct('/apis/data.ringtap.dev/v1alpha1', { headers: forged })).code).toBe(401);
  }, 30_000);

  test('a front-proxy certificate from a different CA: 401, whatever name it carries', async () => {
    const other = selfSignedCA(work, 'other-ca');
    const cert = clientCert(work, 'impostor', 'front-proxy-client', other);
    const r = await direct(pcap, { cert, headers: forged });
    expect(r).toMatchObject({ code: 401, body: { kind: 'Status', code: 401 } });
    expect(r.body.message).toMatch(/not signed by the request-header CA/);
  }, 30_000);

  test('the request-header CA\'s certificate with a name that is not allowed: 401; the allowed one passes', async () => {
    const ca = { crt: join(runDir(), 'pki/front-proxy-ca.crt'), key: join(runDir(), 'pki/front-proxy-ca.key') };
    const stranger = clientCert(work, 'stranger', 'someone-else', ca);
    const r = await direct(pcap, { cert: stranger, headers: forged });
    expect(r).toMatchObject({ code: 401, body: { kind: 'Status' } });
    expect(r.body.message).toMatch(/common name "someone-else" is not an allowed request-header client/);
    // The API server's own front-proxy certificate is accepted: the refusals above are about credentials.
    const proxy = { crt: join(runDir(), 'pki/front-proxy-client.crt'), key: join(runDir(), 'pki/front-proxy-client.key') };
    expect((await direct('/apis/data.ringtap.dev/v1alpha1', { cert: proxy, headers: ['X-Remote-User: someone'] })).code).toBe(200);
    // ... and it still needs the download permission for data: "someone" has none.
    expect(await direct(pcap, { cert: proxy, headers: ['X-Remote-User: someone'] })).toMatchObject({ code: 403, body: { kind: 'Status', reason: 'Forbidden' } });
  }, 30_000);
});
