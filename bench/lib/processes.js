import { rmSync } from 'node:fs';
// Child processes of the harness (API, worker, CLI): each in its own process group, so stopping
// one also stops whatever it forked (the API's cluster workers). Everything started here is
// stopped on normal exit, on errors and on Ctrl-C.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** @type {Set<{name: string, pid: number, logFile: string, exited: Promise<{code: number|null, signal: string|null}>}>} */
const running = new Set();

/** A TCP port nothing listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts `node <script> ...args` detached (own process group), stdout+stderr to `logFile`. */
export function startNode(name, script, args, env, logFile) {
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [script, ...args], { env, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const proc = { name, pid: child.pid, logFile, exitInfo: null };
  proc.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(proc);
      proc.exitInfo = { code, signal };
      resolve(proc.exitInfo);
    });
  });
  running.add(proc);
  return proc;
}

/** Runs a node script to completion with inherited stdio; rejects on a non-zero exit. */
export function runNode(script, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { env, stdio: 'inherit', detached: true });
    const proc = { name: script, pid: child.pid, logFile: '', exitInfo: null };
    proc.exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
    running.add(proc);
    child.once('error', reject);
    proc.exited.then(({ code, signal }) => {
      running.delete(proc);
      if (code === 0) resolve();
      else reject(new Error(`${script} ${args.join(' ')} exited with ${signal ?? code}`));
    });
  });
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** SIGTERM to the process group, SIGKILL after `graceMs`; always sweeps the group with SIGKILL. */
export async function stop(proc, graceMs = 10_000) {
  if (running.has(proc)) {
    killGroup(proc.pid, 'SIGTERM');
    const finished = await Promise.race([proc.exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!finished) killGroup(proc.pid, 'SIGKILL');
    await proc.exited;
  }
  killGroup(proc.pid, 'SIGKILL'); // stragglers (cluster workers) of a primary that died first
}

export async function stopAll() {
  await Promise.all([...running].map((proc) => stop(proc)));
}

let stopping = false;
/**
 * Ctrl-C / SIGTERM: run `cleanup` once, then exit; a second Ctrl-C exits at once. On any exit
 * the process groups still running get SIGKILL (the 'exit' hook cannot wait).
 */
export function installExitHandlers(cleanup) {
  process.on('exit', () => {
    for (const proc of running) killGroup(proc.pid, 'SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (stopping) process.exit(130);
      stopping = true;
      console.error(`\n${signal}: stopping everything the harness started…`);
      Promise.resolve()
        .then(cleanup)
        .catch((err) => console.error(`cleanup failed: ${err.message}`))
        .finally(() => process.exit(130));
    });
  }
}

export const isStopping = () => stopping;

/**
 * A harness's one cleanup: `steps` run once however often it is called (the end of main, a
 * signal), then the temp dir goes unless logs are wanted or the run failed. Installs the signal
 * handlers too. Returns the cleanup function.
 */
export function onceCleanup(state, keepLogs, steps) {
  let cleaning = null;
  const cleanup = () =>
    (cleaning ??= (async () => {
      await steps();
      if (state.tempDir) {
        if (keepLogs || state.failed) console.log(`Logs and storage kept in ${state.tempDir}`);
        else rmSync(state.tempDir, { recursive: true, force: true });
      }
    })());
  installExitHandlers(() => {
    state.failed = true;
    return cleanup();
  });
  return cleanup;
}

/** Polls `url` until it answers 200; fails early if `proc` exits. */
export async function waitForHttp(url, { proc, timeoutMs = 60_000, headers = {} } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc?.exitInfo)
      throw new Error(
        `${proc.name} exited (${proc.exitInfo.signal ?? proc.exitInfo.code}) before ${url} answered:\n${tail(proc.logFile)}`,
      );
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err.cause?.code ?? err.message;
    }
    await sleep(250);
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms (${last})${proc ? `:\n${tail(proc.logFile)}` : ''}`);
}

/** Waits until `pattern` appears in the process' log (the worker has no HTTP port of its own). */
export async function waitForLog(proc, pattern, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitInfo)
      throw new Error(`${proc.name} exited (${proc.exitInfo.signal ?? proc.exitInfo.code}):\n${tail(proc.logFile)}`);
    if (existsSync(proc.logFile) && pattern.test(readFileSync(proc.logFile, 'utf8'))) return;
    await sleep(250);
  }
  throw new Error(`${proc.name}: no ${pattern} in its log after ${timeoutMs} ms:\n${tail(proc.logFile)}`);
}

export function tail(file, lines = 30) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Direct children of `pid` (the API primary's cluster workers). */
export function childPids(pid) {
  const out = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // process gone, or no /proc
  }
  return out;
}

/** Resident set size in MiB, or null when the process is gone. */
export function rssMb(pid) {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}
