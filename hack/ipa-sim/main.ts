// ipa-sim: write a simulated IPA monitor stream to a file or a FIFO and print the counts a
// decoder must report for it (JSON on stdout, or --expected FILE).
//
//   node dist/hack/ipa-sim/main.js --format status|dplv2|dplv3 --version 4.9 --out FILE|FIFO
//        [--mix spec.json] [--expected FILE] [--chunk BYTES] [--pad-align N] [--checksum-trailer]
//        [--repeat N] [--interval-ms MS]
//
// --repeat writes the mix N times (the cut tail only at the very end; counts add up exactly);
// --interval-ms sleeps between chunks, for a slow live-looking feed.
// --chunk writes the stream in pieces of that size (default 4096), so a reader of a FIFO sees
// headers split across reads. The mix defaults to defaultMix(format) (see sim.ts).
import { once } from 'node:events';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { dplFormatFor, IPA_FORMATS, type IPAFormat } from '../../agent/src/ipa/decode.js';
import { defaultMix, simulateRepeated, type SimMix } from './sim.js';

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
    },
  });
  const format = values.format as IPAFormat;
  if (!IPA_FORMATS.includes(format) || !values.out) {
    console.error('usage: ipa-sim --format status|dplv2|dplv3 --version V --out FILE|FIFO [--mix spec.json] [--expected FILE] [--chunk N]');
    process.exit(2);
  }
  if (format !== 'status' && dplFormatFor(values.version) !== format) {
    // Allowed (a replay may be labelled anything), but not what that hardware delivers.
    console.error(`ipa-sim: warning: IPA ${values.version} monitor devices deliver ${dplFormatFor(values.version)}, writing ${format}`);
  }
  const mix: SimMix = values.mix ? (JSON.parse(readFileSync(values.mix, 'utf8')) as SimMix) : defaultMix(format);
  const { stream, expected } = simulateRepeated(
    mix,
    { format, version: values.version, ...(values['pad-align'] ? { padAlign: Number(values['pad-align']) } : {}), checksumTrailer: values['checksum-trailer'] },
    Number(values.repeat),
  );
  const intervalMs = Number(values['interval-ms']);
  const chunk = Math.max(1, Number(values.chunk));
  const out = createWriteStream(values.out); // a FIFO blocks here until a reader opens it
  for (let off = 0; off < stream.length; off += chunk) {
    if (!out.write(stream.subarray(off, off + chunk))) await once(out, 'drain');
    if (intervalMs > 0) await sleep(intervalMs);
  }
  out.end();
  await once(out, 'finish');
  const json = JSON.stringify({ format, version: values.version, streamBytes: stream.length, expected }, null, 2);
  if (values.expected) writeFileSync(values.expected, json + '\n');
  else console.log(json);
}

await main();
