// A TCP proxy that holds every chunk N ms in both directions: a database that is alive but slow.
// Hand-written because no maintained npm library does this (toxiproxy, which would, is a Go binary
// that is not on the box). It runs in a child process of its own, so the load generator's busy
// event loop in the harness does not add its own delays to the proxy's timers.
//
//   const proxy = await startDelayProxy({ host: '127.0.0.1', port: 3306 });
//   await proxy.setDelay(300);   // every chunk now arrives 300 ms later, each way
//   await proxy.stop();
import { fork } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);

/** Forks the proxy; resolves once it listens on a free port of 127.0.0.1. */
export function startDelayProxy(target) {
  const child = fork(SELF, ['--child', target.host, String(target.port)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let seq = 0;
  const waiting = new Map();
  child.on('message', (msg) => {
    waiting.get(msg.id)?.(msg);
    waiting.delete(msg.id);
  });
  const ask = (msg) =>
    new Promise((resolve, reject) => {
      const id = ++seq;
      waiting.set(id, resolve);
      child.send({ ...msg, id }, (err) => err && reject(err));
    });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`delay proxy exited (${code}) before listening`)));
    waiting.set(0, ({ port }) =>
      resolve({
        port,
        pid: child.pid,
        /** Milliseconds added to every chunk from now on (chunks already held keep their time). */
        setDelay: (ms) => ask({ delay: ms }),
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
        },
      }),
    );
  });
}

/** Copies `from` → `to`, each chunk released `state.delay` ms after it arrived, order kept. */
function delayedPipe(from, to, state) {
  const held = [];
  let timer = null;
  let ended = false;
  const flush = () => {
    timer = null;
    const now = Date.now();
    while (held.length && held[0].due <= now) to.write(held.shift().chunk);
    if (held.length) timer = setTimeout(flush, held[0].due - now);
    else if (ended) to.end();
  };
  from.on('data', (chunk) => {
    if (state.delay === 0 && held.length === 0) {
      to.write(chunk);
      return;
    }
    held.push({ chunk, due: Date.now() + state.delay });
    timer ??= setTimeout(flush, Math.max(0, held[0].due - Date.now()));
  });
  from.on('end', () => {
    ended = true;
    if (!held.length && !timer) to.end();
  });
  from.on('close', () => {
    if (timer) clearTimeout(timer);
  });
}

function runChild(host, port) {
  const state = { delay: 0 };
  const sockets = new Set();
  const server = createServer((client) => {
    const upstream = connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    delayedPipe(client, upstream, state);
    delayedPipe(upstream, client, state);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.listen(0, '127.0.0.1', () => process.send({ id: 0, port: server.address().port }));
  process.on('message', (msg) => {
    if (typeof msg.delay === 'number') state.delay = msg.delay;
    process.send({ id: msg.id, delay: state.delay });
  });
  const quit = () => {
    for (const s of sockets) s.destroy();
    server.close(() => process.exit(0));
  };
  process.on('SIGTERM', quit);
  process.on('disconnect', quit); // the harness died
}

if (process.argv[2] === '--child') runChild(process.argv[3], Number(process.argv[4]));
