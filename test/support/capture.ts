// Reading capture files with tools nobody here wrote (tshark, capinfos), and generating
// traffic inside pod network namespaces.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runDir } from './cluster.js';

const execFileP = promisify(execFile);

/** The directory where a node's agent keeps a capture's files. */
export function agentCaptureDir(node: string, namespace: string, capture: string): string {
  return join(runDir(), 'agent-data', node, namespace, capture, node);
}

export function captureFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /\.(pcapng|pcap)$/.test(f)).sort().map((f) => join(dir, f));
}

/** One row per packet: the interface description of its IDB and the protocols, via tshark. */
export async function packets(file: string, displayFilter?: string, ifaceField = 'frame.interface_description'): Promise<{ iface: string; protocols: string }[]> {
  const args = ['-r', file, '-T', 'fields', '-E', 'separator=|', '-e', ifaceField, '-e', 'frame.protocols'];
  if (displayFilter) args.push('-Y', displayFilter);
  const { stdout } = await execFileP('tshark', args, { maxBuffer: 64 << 20 });
  return stdout.split('\n').filter(Boolean).map((l) => {
    const [iface, protocols] = l.split('|');
    return { iface: iface ?? '', protocols: protocols ?? '' };
  });
}

/** Packets per interface description across files. */
export async function countByInterface(files: string[], displayFilter?: string, ifaceField?: string): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const f of files) for (const p of await packets(f, displayFilter, ifaceField)) m.set(p.iface, (m.get(p.iface) ?? 0) + 1);
  return m;
}

/** tcpdump must read the file too, and count the same packets. */
export async function tcpdumpCount(file: string): Promise<number> {
  const { stdout } = await execFileP('tcpdump', ['-nr', file], { maxBuffer: 64 << 20 });
  return stdout.split('\n').filter(Boolean).length;
}

/** count ICMP echo requests (one every 20 ms) from a netns; resolves when all got replies. */
export async function ping(netns: string, ip: string, count: number): Promise<void> {
  const { stdout } = await execFileP('ip', ['netns', 'exec', netns, 'ping', '-c', String(count), '-i', '0.02', '-W', '2', ip], { timeout: 30_000 });
  if (!stdout.includes(`${count} packets transmitted, ${count} received`)) throw new Error(`ping ${ip} from ${netns}: ${stdout}`);
}

/** count UDP datagrams to ip:port from a netns (nobody needs to listen). */
export async function sendUdp(netns: string, ip: string, port: number, count: number): Promise<void> {
  const py = `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor i in range(${count}): s.sendto(b'x'*64,('${ip}',${port}))\n`;
  await execFileP('ip', ['netns', 'exec', netns, 'python3', '-c', py], { timeout: 30_000 });
}
