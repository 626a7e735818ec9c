// Capture files under races: the engine writes and rotates, retention deletes, downloads list.
// Here a real second process creates and deletes files (and the directory) as fast as it can
// while this one lists them: listing never throws, and only whole entries come back.
import { afterAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureDir, listCaptureFiles, removeCaptureDir, retentionVictims } from '../../../agent/src/node/files.js';

const root = mkdtempSync(join(tmpdir(), 'ringtap-files-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('listCaptureFiles', () => {
  test('a directory that does not exist (or is a file) lists nothing', () => {
    expect(listCaptureFiles(join(root, 'nope'), 'cap')).toEqual([]);
    writeFileSync(join(root, 'plain'), '');
    expect(listCaptureFiles(join(root, 'plain'), 'cap')).toEqual([]);
  });

  test('files and the directory vanishing while listed: no throw, only files that were there', async () => {
    const dir = join(root, 'race');
    mkdirSync(dir);
    // The churner: a rotating writer with maxFiles 1 and a retention that removes everything.
    const churn = spawn('bash', ['-c', `cd ${root}; i=0; while :; do mkdir -p race; : > race/cap-$(printf %06d $i).pcapng; rm -f race/cap-$(printf %06d $((i-1))).pcapng; i=$((i+1)); [ $((i % 50)) = 0 ] && rm -rf race; done`], { stdio: 'ignore' });
    try {
      let seen = 0;
      for (let i = 0; i < 20_000; i++) {
        for (const f of listCaptureFiles(dir, 'cap')) {
          expect(f.name).toMatch(/^cap-\d{6}\.pcapng$/);
          seen++;
        }
        if (i % 1000 === 0) await new Promise((r) => setImmediate(r));
      }
      expect(seen).toBeGreaterThan(0);
    } finally {
      churn.kill('SIGKILL');
    }
  }, 60_000);
});

describe('retentionVictims', () => {
  test('maxFiles 1 keeps the file being written even when it is not the newest listed', () => {
    const f = (seq: number) => ({ name: `c-${seq}`, path: `/d/c-${seq}`, seq, size: 1, mtimeMs: seq });
    expect(retentionVictims([f(1), f(2), f(3)], { maxFiles: 1 }, 10, '/d/c-3').map((x) => x.seq)).toEqual([1, 2]);
    expect(retentionVictims([f(1), f(2)], { maxFiles: 1 }, 10, '/d/c-1').map((x) => x.seq)).toEqual([]);
  });
});

describe('removeCaptureDir', () => {
  test('removes the capture, then parents left empty, never the data directory nor a parent still in use', () => {
    const data = join(root, 'data');
    const a = captureDir(data, 'team-a', 'cap', 'node-a');
    const b = captureDir(data, 'team-a', 'other', 'node-a');
    mkdirSync(a, { recursive: true });
    mkdirSync(b, { recursive: true });
    writeFileSync(join(a, 'cap-000000.pcapng'), 'x');
    removeCaptureDir(a, data);
    expect(existsSync(join(data, 'team-a', 'cap'))).toBe(false);
    expect(existsSync(b)).toBe(true);
    removeCaptureDir(b, data);
    expect(existsSync(join(data, 'team-a'))).toBe(false);
    expect(existsSync(data)).toBe(true);
  });
});
