// Process plumbing shared by the service starters: spawn with captured output, wait for
// readiness against a deadline, stop by PID (TERM, then KILL), and run install commands.
// Every failure is thrown as a ServiceError naming the service, the step and the last
// lines of output, so a test that depends on a service fails loudly instead of skipping.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  commandTimeoutMs,
  killWaitMs,
  outputLinesInError,
  outputLinesKept,
  readyPollIntervalMs,
} from './constants.js';

export class ServiceError extends Error {
  constructor(service: string, step: string, detail: string, output: string[] = []) {
    const tail = output.slice(-outputLinesInError);
    const shown = tail.length > 0 ? `\n--- last ${tail.length} lines of output ---\n${tail.join('\n')}` : '';
    super(`${service}: ${step} failed: ${detail}${shown}`);
    this.name = 'ServiceError';
  }
}

/** The repository root: the nearest folder above this file holding package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export function cacheDir(): string {
  return join(repoRoot(), '.cache');
}

export function makeTempDir(service: string): string {
  return mkdtempSync(join(tmpdir(), `quire-${service}-`));
}

/** Keeps the last lines a process printed, and remembers whether a marker line appeared. */
export class OutputTail {
  readonly lines: string[] = [];
  private partial = '';
  private readonly seen = new Set<string>();
  private readonly echo: boolean;
  private readonly prefix: string;

  constructor(prefix: string, echo: boolean, private readonly markers: string[] = []) {
    this.prefix = prefix;
    this.echo = echo;
  }

  push(chunk: Buffer): void {
    const text = this.partial + chunk.toString('utf8');
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.addLine(line.replace(/\r$/, ''));
  }

  flush(): void {
    if (this.partial !== '') this.addLine(this.partial);
    this.partial = '';
  }

  sawMarker(marker: string): boolean {
    return this.seen.has(marker);
  }

  private addLine(line: string): void {
    for (const m of this.markers) if (line.includes(m)) this.seen.add(m);
    this.lines.push(line);
    if (this.lines.length > outputLinesKept) this.lines.splice(0, this.lines.length - outputLinesKept);
    if (this.echo) process.stderr.write(`[${this.prefix}] ${line}\n`);
  }
}

export interface ServiceHandle {
  readonly service: string;
  /** PID of the process this handle started (the Java VM, slapd, or Dovecot's master). */
  readonly pid: number;
  /** The main port, bound to 127.0.0.1. */
  readonly port: number;
  /** Throwaway folder holding the service's config and data; removed by stop(). */
  readonly dir: string;
  /** Milliseconds from spawn to ready. */
  readonly readyMs: number;
  /** Last lines the service printed. */
  output(): string[];
  /** TERM, then KILL after the grace period; always removes `dir`. Idempotent. */
  stop(): Promise<void>;
}

export interface Spawned {
  child: ChildProcess;
  pid: number;
  out: OutputTail;
  exited: Promise<void>;
  exitCode(): number | null | 'signal';
}

// Children still running when Node exits (a crashed test, an uncaught error) are killed, so
// a failed run does not leave a broker holding a port for the next one.
const live = new Map<number, { dir: string }>();
process.on('exit', () => {
  for (const [pid, { dir }] of live) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

export function spawnService(
  service: string,
  command: string,
  args: string[],
  options: { cwd: string; dir: string; echo: boolean; markers?: string[]; env?: NodeJS.ProcessEnv },
): Spawned {
  const out = new OutputTail(service, options.echo, options.markers);
  // Own process group, so stop() reaches helpers the service forks (Dovecot's children).
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stderr!.on('data', (c: Buffer) => out.push(c));
  let code: number | null | 'signal' = null;
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.on('error', (err) => {
      spawnError = err;
      code = -1;
      resolve();
    });
    child.on('exit', (c, signal) => {
      code = signal !== null ? 'signal' : c;
      out.flush();
      resolve();
    });
  });
  if (child.pid === undefined) {
    throw new ServiceError(service, 'spawn', `could not start ${command}: ${spawnError?.message ?? 'no pid'}`);
  }
  live.set(child.pid, { dir: options.dir });
  return { child, pid: child.pid, out, exited, exitCode: () => code };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

async function waitExit(s: Spawned, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const done = await Promise.race([s.exited.then(() => true), timedOut]);
  clearTimeout(timer);
  return done;
}

/** TERM the process group, KILL it after graceMs, wait until the PID is gone, remove dir. */
export async function stopSpawned(service: string, s: Spawned, dir: string, graceMs: number): Promise<void> {
  try {
    if (s.exitCode() === null) {
      signalGroup(s.pid, 'SIGTERM');
      if (!(await waitExit(s, graceMs))) {
        signalGroup(s.pid, 'SIGKILL');
        if (!(await waitExit(s, killWaitMs))) {
          throw new ServiceError(service, 'stop', `pid ${s.pid} survived SIGKILL`, s.out.lines);
        }
      }
    }
    // The group may hold children that outlive the leader for a moment.
    signalGroup(s.pid, 'SIGKILL');
  } finally {
    live.delete(s.pid);
    rmSync(dir, { recursive: true, force: true });
  }
  if (isAlive(s.pid)) throw new ServiceError(service, 'stop', `pid ${s.pid} still alive`, s.out.lines);
}

/**
 * Polls `probe` until it returns true, the process exits, or the deadline passes. On failure
 * the process is stopped, the folder removed, and a ServiceError thrown.
 */
export async function waitReady(
  service: string,
  s: Spawned,
  dir: string,
  timeoutMs: number,
  graceMs: number,
  probe: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastProbeError = '';
  for (;;) {
    const code = s.exitCode();
    if (code !== null) {
      await stopSpawned(service, s, dir, graceMs);
      throw new ServiceError(service, 'readiness wait', `process exited early (code ${code})`, s.out.lines);
    }
    try {
      if (await probe()) return;
    } catch (err) {
      lastProbeError = (err as Error).message;
    }
    if (Date.now() > deadline) {
      await stopSpawned(service, s, dir, graceMs);
      const why = lastProbeError === '' ? '' : ` (last probe error: ${lastProbeError})`;
      throw new ServiceError(service, 'readiness wait', `not ready within ${timeoutMs} ms${why}`, s.out.lines);
    }
    await new Promise((r) => setTimeout(r, readyPollIntervalMs));
  }
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portAccepts(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True when 127.0.0.1:port can be bound right now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port the kernel just handed out on 127.0.0.1 (free now; small race until bound again). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Resolves the caller's port (or picks one) and checks nothing already listens there. */
export async function claimPort(service: string, port: number | undefined): Promise<number> {
  const chosen = port ?? (await freePort());
  if (!Number.isInteger(chosen) || chosen <= 1024 || chosen > 65535) {
    throw new ServiceError(service, 'port check', `port ${chosen} is not an unprivileged port (1025..65535)`);
  }
  // A leftover server on the port would answer the readiness probe in the new one's place.
  if (!(await portFree(chosen))) throw new ServiceError(service, 'port check', `127.0.0.1:${chosen} is already in use`);
  return chosen;
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; throws a ServiceError unless it exits 0. */
export function run(
  service: string,
  step: string,
  command: string,
  args: string[],
  options: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; allowFail?: boolean } = {},
): RunResult {
  const r = spawnSync(command, args, {
    cwd: options.cwd,
    input: options.input,
    env: options.env ?? process.env,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? commandTimeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  const result = { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if (r.error !== undefined && !options.allowFail) {
    throw new ServiceError(service, step, `${command} ${args.join(' ')}: ${r.error.message}`, lines(result));
  }
  if (result.status !== 0 && !options.allowFail) {
    throw new ServiceError(service, step, `${command} ${args.join(' ')} exited ${result.status}`, lines(result));
  }
  return result;
}

function lines(r: RunResult): string[] {
  return (r.stdout + '\n' + r.stderr).split('\n').filter((l) => l.trim() !== '');
}

export function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).status === 0;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function debInstalled(pkg: string): boolean {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

const policyPath = '/usr/sbin/policy-rc.d';
const policyDeny = '#!/bin/sh\n# Written by quire scripts/services: no daemon starts during apt-get install.\nexit 101\n';

/**
 * Installs Debian packages with a policy-rc.d that denies every service start, so no system
 * daemon comes up (nor binds 389, 143 or 110). An existing policy-rc.d is kept if it already
 * denies, otherwise set aside and restored.
 */
export function aptInstall(service: string, packages: string[], debconf: string[] = []): void {
  const missing = packages.filter((p) => !debInstalled(p));
  if (missing.length === 0) return;
  if (!isRoot()) {
    throw new ServiceError(service, 'apt install', `packages ${missing.join(' ')} are missing and installing them needs root`);
  }
  if (debconf.length > 0) run(service, 'debconf-set-selections', 'debconf-set-selections', [], { input: debconf.join('\n') + '\n' });
  const previous = existsSync(policyPath) ? readFileSync(policyPath, 'utf8') : undefined;
  const alreadyDenies = previous !== undefined && /^\s*exit\s+101\s*$/m.test(previous);
  if (!alreadyDenies) {
    writeFileSync(policyPath, policyDeny);
    chmodSync(policyPath, 0o755);
  }
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const args = ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '-q', '--no-install-recommends', ...missing];
    const first = run(service, 'apt-get install', 'apt-get', args, { env, timeoutMs: 600_000, allowFail: true });
    if (first.status !== 0) {
      // A fresh machine may have empty package lists: update once and try again.
      run(service, 'apt-get update', 'apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update', '-q'], { env, timeoutMs: 600_000 });
      run(service, 'apt-get install', 'apt-get', args, { env, timeoutMs: 600_000 });
    }
  } finally {
    if (!alreadyDenies) {
      if (previous === undefined) rmSync(policyPath, { force: true });
      else writeFileSync(policyPath, previous);
    }
  }
  const still = packages.filter((p) => !debInstalled(p));
  if (still.length > 0) throw new ServiceError(service, 'apt install', `still not installed: ${still.join(' ')}`);
}
