// Runs the scapy PPP peers (pppoe_peer.py, l2tp_peer.py: independent of ringtap code) inside
// network namespaces. Every child is tracked so a test can kill exactly what it started.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const PYTHON = '/usr/bin/python3'; // Debian's, where python3-scapy lives
const DIR = fileURLToPath(new URL('./', import.meta.url));
export const PPPOE_PEER = join(DIR, 'pppoe_peer.py');
export const L2TP_PEER = join(DIR, 'l2tp_peer.py');

export const PROTO = { lcp: 0xc021, pap: 0xc023, chap: 0xc223, ipcp: 0x8021, ip: 0x0021 } as const;
// Real control-protocol messages: what a session carries before any data.
export const LCP_CONFREQ = '0101000e010405d40506a1b2c3d4'; // Configure-Request: MRU 1492, magic
export const PAP_AUTHREQ = '0101000e047573657204706173'; // Authenticate-Request user/pass
export const CHAP_CHALLENGE = '01010018' + '10' + '00112233445566778899aabbccddeeff' + Buffer.from('lns').toString('hex');
export const IPCP_CONFREQ = '0101000a030600000000'; // Configure-Request: IP-Address 0.0.0.0

const children = new Set<ChildProcess>();
// Python with scapy takes 3-6 s to start under TCG (the guest project) and more under load.
const START_MS = 60_000;

/** Kills the receivers this process started and that still run (by their own PID). */
export function killPeers(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
}

export function writeSpec(dir: string, name: string, spec: unknown[]): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(spec));
  return file;
}

/** Runs a scapy sender in a namespace to completion. */
export async function runPeer(netns: string, script: string, args: string[]): Promise<unknown> {
  const { stdout } = await execFileP('ip', ['netns', 'exec', netns, PYTHON, script, ...args], { timeout: START_MS });
  return JSON.parse(stdout.trim().split('\n').pop() ?? 'null');
}

/** Starts a scapy receiver; `ready` once it listens, `result` with its JSON list of dissected frames. */
export function startReceiver(netns: string, script: string, args: string[]): { ready: Promise<void>; result: Promise<Record<string, unknown>[]> } {
  const child = spawn('ip', ['netns', 'exec', netns, PYTHON, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  let onReady: () => void = () => undefined;
  let onFail: (e: Error) => void = () => undefined;
  const ready = new Promise<void>((res, rej) => {
    onReady = res;
    onFail = rej;
  });
  const timer = setTimeout(() => {
    onFail(new Error(`receiver not ready after ${START_MS / 1000} s: ${err}`));
    child.kill('SIGKILL');
  }, START_MS);
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (/^ready$/m.test(out)) {
      clearTimeout(timer);
      onReady();
    }
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const result = new Promise<Record<string, unknown>[]>((res, rej) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      if (code !== 0) {
        const e = new Error(`${script} exited ${code}: ${err}`);
        onFail(e);
        rej(e);
        return;
      }
      res(JSON.parse(out.trim().split('\n').pop() ?? 'null') as Record<string, unknown>[]);
    });
  });
  return { ready, result };
}
