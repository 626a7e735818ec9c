// The download server's certificate: the one the chart mounts (RINGTAP_TLS_CERT_FILE and
// RINGTAP_TLS_KEY_FILE), or a self-signed one made at start-up whose SHA-256 fingerprint the
// agent publishes on its Node (annotation ringtap.dev/agent-cert-sha256) so that a client
// connecting directly can pin it.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface ServerTls { cert: Buffer; key: Buffer; fingerprint256: string }

export async function serverTls(dataDir: string, node: string, addresses: string[]): Promise<ServerTls> {
  let certFile = process.env.RINGTAP_TLS_CERT_FILE;
  let keyFile = process.env.RINGTAP_TLS_KEY_FILE;
  if (!certFile || !keyFile) {
    const dir = join(dataDir, '.tls');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    certFile = join(dir, 'agent.crt');
    keyFile = join(dir, 'agent.key');
    const san = [`DNS:${node}`, 'DNS:localhost', ...addresses.map((a) => `IP:${a}`)].join(',');
    await execFileP('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '365',
      '-subj', `/CN=ringtap-agent-${node}`, '-addext', `subjectAltName=${san}`,
      '-keyout', keyFile, '-out', certFile,
    ]);
  }
  const cert = readFileSync(certFile);
  return { cert, key: readFileSync(keyFile), fingerprint256: new X509Certificate(cert).fingerprint256 };
}
