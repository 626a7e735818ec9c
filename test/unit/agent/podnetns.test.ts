import { describe, expect, test } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroupMatchesPod, findPodPids } from '../../../agent/src/node/podnetns.js';

const uid = '6f1c2a9e-0b3d-4e5f-8a7b-1c2d3e4f5a6b';

describe('cgroupMatchesPod', () => {
  test('matches the cgroupfs driver layout (cgroup v1, several hierarchies)', () => {
    const f = `12:pids:/kubepods/besteffort/pod${uid}/0123abcd\n0::/\n`;
    expect(cgroupMatchesPod(f, uid)).toBe(true);
  });
  test('matches the systemd driver layout (cgroup v2)', () => {
    const f = `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replaceAll('-', '_')}.slice/cri-containerd-ab12.scope\n`;
    expect(cgroupMatchesPod(f, uid)).toBe(true);
  });
  test('matches a guaranteed pod directly under kubepods', () => {
    expect(cgroupMatchesPod(`0::/kubepods/pod${uid}/c1\n`, uid)).toBe(true);
  });
  test('does not match another pod, a prefix of the uid, or a path that merely contains it', () => {
    const other = '6f1c2a9e-0b3d-4e5f-8a7b-1c2d3e4f5a6c';
    expect(cgroupMatchesPod(`0::/kubepods/besteffort/pod${other}/c1\n`, uid)).toBe(false);
    expect(cgroupMatchesPod(`0::/kubepods/besteffort/pod${uid.slice(0, 20)}/c1\n`, uid)).toBe(false);
    expect(cgroupMatchesPod(`0::/user.slice/xpod${uid}/c1\n`, uid)).toBe(false);
  });
});

describe('findPodPids', () => {
  test('scans a /proc tree and returns the pids whose cgroup names the pod', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ringtap-proc-'));
    try {
      const put = (pid: string, content: string) => {
        mkdirSync(join(root, pid));
        writeFileSync(join(root, pid, 'cgroup'), content);
      };
      put('10', `8:pids:/kubepods/besteffort/pod${uid}/aaa\n`);
      put('11', '8:pids:/\n');
      put('12', `0::/kubepods.slice/kubepods-pod${uid.replaceAll('-', '_')}.slice/cri-containerd-b.scope\n`);
      mkdirSync(join(root, 'self'));
      mkdirSync(join(root, '13')); // exited process: no cgroup file
      expect(await findPodPids(uid, root)).toEqual([10, 12]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
  test('rejects a uid that is not a UUID, with a code', async () => {
    await expect(findPodPids('../../etc')).rejects.toMatchObject({ code: 'ERR_RINGTAP_BAD_POD_UID' });
  });
});
