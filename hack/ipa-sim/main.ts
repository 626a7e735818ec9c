// ipa-sim: write a simulated IPA monitor stream to a file or a FIFO and print the counts a
// decoder must report for it (JSON on stdout, or --expected FILE).
//
//   node dist/hack/ipa-sim/main.js --format status|dplv2|dplv3 --version 4.9 --out FILE|FIFO
//        [--mix spec.json] [--expected FILE] [--chunk BYTES] [--pad-align N] [--checksum-trailer]
//        [--repeat N] [--interval-ms MS]
//   node dist/hack/ipa-sim/main.js --format status --version 4.9 --tap IFNAME [--netns NAME]
//        [--frame-bytes N] [--no-tail] ...
//
// --tap writes the stream as frames into a TAP device (hack/ipa-sim/tapwrite.py attaches to it;
// in network namespace --netns when given): whole records per frame, at most --frame-bytes
// (default 8192) each, after an Ethernet header with EtherType 0x88B5. A device never ends a
// stream, so a record cut at the end would stay pending: --no-tail leaves the cut tail out.
//
// --repeat writes the mix N times (the cut tail only at the very end; counts add up exactly);
// --interval-ms sleeps between chunks, for a slow live-looking feed.
// --chunk writes the stream in pieces of that size (default 4096), so a reader of a FIFO sees
// headers split across reads. The mix defaults to defaultMix(format) (see sim.ts).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { dplFormatFor, IPA_FORMATS, type IPAFormat } from '../../agent/src/drivers/ipa/decode.js';
import { defaultMix, simulateRepeated, toFrames, type SimMix } from './sim.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      format: { type: 'string', default: 'status' },
      version: { type: 'string', default: '4.9' },
      out: { type: 'string' },
      mix: { type: 'string' },
      expected: { type: 'string' },
      chunk: { type: 'string', default: '4096' },
      'pad-align': { type: 'string' }, // default: what the hardware pads to (status 4, DPLv2 4, DPLv3 8)
      'checksum-trailer': { type: 'boolean', default: false },
      repeat: { type: 'string', default: '1' },
      'interval-ms': { type: 'string', default: '0' },
      tap: { type: 'string' },
      netns: { type: 'string' },
      'frame-bytes': { type: 'string', default: '8192' },
      'no-tail': { type: 'boolean', default: false },
    },
  });
  const format = values.format as IPAFormat;
  if (!IPA_FORMATS.includes(format) || (!values.out && !values.tap)) {
    console.error('usage: ipa-sim --format status|dplv2|dplv3 --version V --out FILE|FIFO [--mix spec.json] [--expected FILE] [--chunk N]');
    process.exit(2);
  }
  if (format !== 'status' && dplFormatFor(values.version) !== format) {
    // Allowed (a replay may be labelled anything), but not what that hardware delivers.
    console.error(`ipa-sim: warning: IPA ${values.version} monitor devices deliver ${dplFormatFor(values.version)}, writing ${format}`);
  }
  const mix: SimMix = values.mix ? (JSON.parse(readFileSync(values.mix, 'utf8')) as SimMix) : defaultMix(format);
  if (values['no-tail']) mix.truncatedTail = 0;
  const { stream, parts, expected } = simulateRepeated(
    mix,
    { format, version: values.version, ...(values['pad-align'] ? { padAlign: Number(values['pad-align']) } : {}), checksumTrailer: values['checksum-trailer'] },
    Number(values.repeat),
  );
  const intervalMs = Number(values['interval-ms']);
  let frames: number | undefined;
  if (values.tap) {
    frames = await writeTap(values.tap, values.netns, toFrames(parts, Math.max(64, Number(values['frame-bytes']))), intervalMs);
  } else {
    const chunk = Math.max(1, Number(values.chunk));
    const out = createWriteStream(values.out!); // a FIFO blocks here until a reader opens it
    for (let off = 0; off < stream.length; off += chunk) {
      if (!out.write(stream.subarray(off, off + chunk))) await once(out, 'drain');
      if (intervalMs > 0) await sleep(intervalMs);
    }
    out.end();
    await once(out, 'finish');
  }
  const json = JSON.stringify({ format, version: values.version, streamBytes: stream.length, ...(frames !== undefined ? { frames } : {}), expected }, null, 2);
  if (values.expected) writeFileSync(values.expected, json + '\n');
  else console.log(json);
}

/** Feeds the frames to tapwrite.py (length-prefixed on its stdin); resolves with the frames it wrote. */
async function writeTap(ifname: string, netns: string | undefined, frames: Buffer[], intervalMs: number): Promise<number> {
  const script = join(dirname(fileURLToPath(import.meta.url)), '../../../hack/ipa-sim/tapwrite.py');
  const cmd = netns ? ['ip', 'netns', 'exec', netns, 'python3', script, ifname] : ['python3', script, ifname];
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = once(child, 'exit');
  for (const f of frames) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(f.length);
    if (!child.stdin.write(Buffer.concat([len, f]))) await once(child.stdin, 'drain');
    if (intervalMs > 0) await sleep(intervalMs);
  }
  child.stdin.end();
  const [code] = (await exited) as [number | null];
  if (code !== 0) throw new Error(`tapwrite.py exited with ${code}`);
  return Number(out.trim());
}

await main();
