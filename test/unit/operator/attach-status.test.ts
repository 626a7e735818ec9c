// Ready means attached: the parent's conditions when the agents could attach none, some or all
// of the targets they were given (pure status functions, table-tested).
import { describe, expect, test } from '@jest/globals';
import { deriveCaptureStatus, type ObservedTask } from '../../../operator/src/controllers/packetcapture/status.js';
import { deriveMirrorStatus, type ObservedMirrorTask } from '../../../operator/src/controllers/portmirror/status.js';

const cond = (d: { conditions: { type: string; status: string; reason: string; message: string }[] }, type: string) => d.conditions.find((c) => c.type === type)!;
const task = (t: Partial<ObservedTask>): ObservedTask => ({ node: 'n1', pods: 1, phase: 'Running', ...t });

describe('PacketCapture', () => {
  test('every target failed to attach (podInterfaces ["-h"], hardware timestamps on a veth): not Ready, Stalled with the reasons', () => {
    const d = deriveCaptureStatus({ targetsFound: 2, tasks: [task({ attached: 0, failedTargets: 2, notAttached: ['a1 Failed: pod a1 has no interface to capture', 'a2 Failed: no hardware timestamps'] })] });
    expect(cond(d, 'Ready').status).toBe('False');
    expect(cond(d, 'Stalled')).toMatchObject({ status: 'True', reason: 'AttachFailed' });
    expect(cond(d, 'Stalled').message).toBe('no target is attached: n1: a1 Failed: pod a1 has no interface to capture; n1: a2 Failed: no hardware timestamps');
  });

  test('nothing attached yet, but still looking (Detached): Reconciling, not Stalled', () => {
    const d = deriveCaptureStatus({ targetsFound: 1, tasks: [task({ attached: 0, failedTargets: 0, notAttached: ['a1 Detached'] })] });
    expect(cond(d, 'Ready').status).toBe('False');
    expect(cond(d, 'Reconciling')).toMatchObject({ status: 'True', reason: 'Attaching' });
    expect(cond(d, 'Stalled').status).toBe('False');
  });

  test('some attached: Ready, and the message says how many and why the others are not', () => {
    const d = deriveCaptureStatus({ targetsFound: 2, tasks: [task({ attached: 1, failedTargets: 1, notAttached: ['a2 Failed: no such interface'] })] });
    expect(cond(d, 'Ready').status).toBe('True');
    expect(cond(d, 'Ready').message).toMatch(/; 1 of 2 targets attached, not attached: n1: a2 Failed: no such interface$/);
  });

  test('all attached: Ready with the plain message', () => {
    const d = deriveCaptureStatus({ targetsFound: 1, tasks: [task({ attached: 1, failedTargets: 0, notAttached: [] })] });
    expect(cond(d, 'Ready')).toMatchObject({ status: 'True', reason: 'Capturing' });
    expect(cond(d, 'Ready').message).not.toMatch(/attached/);
  });
});

describe('PortMirror', () => {
  const mtask = (t: Partial<ObservedMirrorTask>): ObservedMirrorTask => ({ node: 'n1', sources: 2, phase: 'Running', attached: 0, ...t });

  test('no source can be attached: Stalled with the reasons, never "Attaching" forever', () => {
    const d = deriveMirrorStatus({ sourcesFound: 2, tasks: [mtask({ failed: ['a1: no such device', 'a2: no such device'] })] });
    expect(d.phase).toBe('Degraded');
    expect(cond(d, 'Stalled')).toMatchObject({ status: 'True', reason: 'AttachFailed', message: 'no source is attached: n1: a1: no such device; n1: a2: no such device' });
    expect(cond(d, 'Reconciling').status).toBe('False');
  });

  test('some attached, the rest failed: Ready, saying how many', () => {
    const d = deriveMirrorStatus({ sourcesFound: 2, tasks: [mtask({ attached: 1, failed: ['a2: no such device'] })] });
    expect(cond(d, 'Ready').status).toBe('True');
    expect(cond(d, 'Ready').message).toMatch(/; 1 of 2 attached, not attached: n1: a2: no such device$/);
  });

  test('some still being attached: Attaching', () => {
    const d = deriveMirrorStatus({ sourcesFound: 2, tasks: [mtask({ attached: 1 })] });
    expect(cond(d, 'Reconciling')).toMatchObject({ status: 'True', reason: 'Attaching', message: '1/2 source(s) attached' });
  });
});
