// Filter compiles with a deadline, off the caller's thread. A tenant writes the filter text, and
// libpcap's optimizer is superlinear in it (a 4 KiB filter of `port N` alternatives compiles for
// tens of seconds), so a length limit alone does not bound the time. FilterCompiler sends each
// text to one child process (filter-child.ts) and kills it when a compile outlives the deadline;
// the next compile starts a new child. Requests wait in one queue per tenant (any string: the
// operator uses the namespace), served in turn, so one tenant's slow filters delay another's by
// at most one deadline per turn.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolveEntry } from '../entry.js';

/** What libpcap made of a filter: its instruction count, its error, or no answer in time. */
export type CompileOutcome = { instructions: number } | { error: string } | { timedOut: true };

interface Job { text: string; snaplen: number; resolve: (o: CompileOutcome) => void }

const CHILD_ENTRY = new URL('./filter-child.js', import.meta.url);

export class FilterCompiler {
  private readonly queues = new Map<string, Job[]>();
  private child?: { proc: ChildProcess; ready: Promise<void>; answers: Map<number, (a: { instructions?: number; error?: string }) => void> };
  private running = false;
  private nextId = 0;
  private closed = false;

  constructor(private readonly deadlineMs = 2000) {}

  /** Compiles `text` in the child; `tenant` picks the queue it waits in. */
  compile(text: string, snaplen: number, tenant = ''): Promise<CompileOutcome> {
    if (this.closed) return Promise.reject(new Error('the filter compiler is closed'));
    return new Promise((resolve) => {
      const q = this.queues.get(tenant) ?? [];
      q.push({ text, snaplen, resolve });
      this.queues.set(tenant, q);
      void this.drain();
    });
  }

  /** Stops the child; pending compiles are refused. */
  close(): void {
    this.closed = true;
    this.kill();
    for (const q of this.queues.values()) for (const j of q) j.resolve({ error: 'the filter compiler is closed' });
    this.queues.clear();
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (!this.closed) {
        const job = this.take();
        if (!job) break;
        job.resolve(await this.run(job).catch((err: Error) => ({ error: `the filter compiler failed: ${err.message}` })));
      }
    } finally {
      this.running = false;
    }
  }

  /** The head of the next tenant's queue, round robin: the tenant served goes to the back. */
  private take(): Job | undefined {
    for (const [tenant, q] of this.queues) {
      const job = q.shift();
      this.queues.delete(tenant);
      if (q.length > 0) this.queues.set(tenant, q);
      if (job) return job;
    }
    return undefined;
  }

  private async run(job: Job): Promise<CompileOutcome> {
    const child = this.child ?? this.spawn();
    await child.ready;
    const id = this.nextId++;
    return new Promise<CompileOutcome>((resolve) => {
      const timer = setTimeout(() => {
        child.answers.delete(id);
        this.kill();
        resolve({ timedOut: true });
      }, this.deadlineMs);
      child.answers.set(id, (a) => {
        clearTimeout(timer);
        resolve(a.error !== undefined ? { error: a.error } : { instructions: a.instructions ?? 0 });
      });
      child.proc.stdin!.write(`${JSON.stringify({ id, text: job.text, snaplen: job.snaplen })}\n`);
    });
  }

  private spawn(): NonNullable<FilterCompiler['child']> {
    const { script, args } = resolveEntry(CHILD_ENTRY);
    const proc = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    const answers = new Map<number, (a: { instructions?: number; error?: string }) => void>();
    const lines = createInterface({ input: proc.stdout! });
    const ready = new Promise<void>((resolve, reject) => {
      lines.on('line', (line) => {
        if (line === 'ready') return resolve();
        const a = JSON.parse(line) as { id: number; instructions?: number; error?: string };
        const done = answers.get(a.id);
        answers.delete(a.id);
        done?.(a);
      });
      proc.once('exit', (code, signal) => {
        const err = new Error(`the filter compiler process exited (${signal ?? code})`);
        reject(err);
        // Whoever waits on this child gets an answer, never a hang.
        for (const done of answers.values()) done({ error: err.message });
        answers.clear();
        if (this.child?.proc === proc) this.child = undefined;
      });
      proc.once('error', reject);
    });
    ready.catch(() => undefined);
    proc.stdin!.on('error', () => undefined); // a write to a child that just died: its exit answers
    this.child = { proc, ready, answers };
    return this.child;
  }

  private kill(): void {
    const c = this.child;
    this.child = undefined;
    c?.proc.kill('SIGKILL');
  }
}
