// cdp.mjs - headless Chromium driven over the DevTools protocol, with nothing from npm: the
// browser is started with --remote-debugging-port=0, the page's websocket is found through
// /json/list, and commands go over Node's WebSocket (global from Node 22; Node 20 needs
// --experimental-websocket, which tools/web/*.mjs callers pass).
//
//   const b = await launch({ chromium: '/usr/bin/chromium' });
//   await b.goto(url); const v = await b.eval('1 + 1'); await b.screenshot('out.png'); await b.close();
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Flags that work as root in a container: no sandbox, no GPU, nothing phoning home.
export const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-default-apps', '--disable-extensions', '--mute-audio', '--hide-scrollbars',
  '--window-size=1400,1000'];

export async function launch({ chromium = '/usr/bin/chromium', timeoutMs = 30000 } = {}) {
  if (typeof WebSocket === 'undefined') throw new Error('no WebSocket in this Node: run node --experimental-websocket');
  const dir = mkdtempSync(join(tmpdir(), 'fnet-chromium-'));
  const proc = spawn(chromium, [...FLAGS, `--user-data-dir=${dir}`, '--remote-debugging-port=0', 'about:blank'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  let exited = null;
  proc.on('exit', (c) => { exited = c; });
  let port = 0;
  for (const t0 = Date.now(); !port; await sleep(100)) {
    if (exited !== null) throw new Error(`chromium exited (${exited}): ${stderr.slice(-800)}`);
    if (Date.now() - t0 > timeoutMs) { proc.kill(); throw new Error('chromium did not open its DevTools port'); }
    try { port = Number(readFileSync(join(dir, 'DevToolsActivePort'), 'utf8').split('\n')[0]); } catch { /* not yet */ }
  }
  const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const page = list.find((t) => t.type === 'page');
  const ws = new WebSocket(page.webSocketDebuggerUrl);
  await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = () => fail(new Error('DevTools websocket failed')); });
  let id = 0;
  const pending = new Map(), listeners = [], consoleLines = [];
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.id && pending.has(m.id)) {
      const { ok, fail } = pending.get(m.id);
      pending.delete(m.id);
      if (m.error) fail(new Error(`${m.error.message} ${m.error.data || ''}`)); else ok(m.result);
    } else if (m.method) {
      if (m.method === 'Runtime.consoleAPICalled')
        consoleLines.push(`${m.params.type}: ${m.params.args.map((a) => a.value ?? a.description ?? '').join(' ')}`);
      if (m.method === 'Runtime.exceptionThrown') consoleLines.push(`exception: ${m.params.exceptionDetails.exception?.description || m.params.exceptionDetails.text}`);
      for (const l of listeners) l(m);
    }
  };
  ws.onclose = () => { for (const { fail } of pending.values()) fail(new Error('DevTools websocket closed')); pending.clear(); };
  const send = (method, params = {}) => new Promise((ok, fail) => {
    const k = ++id;
    pending.set(k, { ok, fail });
    ws.send(JSON.stringify({ id: k, method, params }));
  });
  await send('Page.enable');
  await send('Runtime.enable');
  const b = {
    send, console: consoleLines, version: (await send('Browser.getVersion')).product,
    async goto(url) {
      const loaded = new Promise((ok) => listeners.push((m) => { if (m.method === 'Page.loadEventFired') ok(); }));
      await send('Page.navigate', { url });
      await loaded;
    },
    // evaluates an expression in the page (promises awaited), returns its JSON value
    async eval(expression) {
      const r = await send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
      if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.exception?.description || r.exceptionDetails.text}`);
      return r.result.value;
    },
    async screenshot(path) {
      const r = await send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true });
      writeFileSync(path, Buffer.from(r.data, 'base64'));
    },
    async close() {
      // the browser may drop the socket before it answers: wait 2 s at most
      await Promise.race([send('Browser.close').catch(() => {}), sleep(2000)]);
      ws.close();
      for (let i = 0; i < 50 && exited === null; i++) await sleep(100);
      if (exited === null) proc.kill('SIGKILL');
      proc.stderr.destroy(); // helpers of chromium may hold the pipe open
      proc.unref();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return b;
}

// Starts examples/web/serve.mjs on a free port; resolves to { url, stop() }.
export async function serve(args = []) {
  const p = spawn(process.execPath, ['examples/web/serve.mjs', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((ok, fail) => {
    let out = '';
    p.stdout.on('data', (d) => { out += d; if (out.includes('\n')) ok(out.split('\n')[0].trim()); });
    p.on('exit', (c) => fail(new Error(`serve.mjs exited (${c})`)));
  });
  return { url, stop: () => p.kill() };
}
