// The openai SDK's realtime WebSocket clients through tollgate as an HTTPS proxy, as a Node user
// sets them up: OpenAIRealtimeWS (ws, the key in Authorization) with an HttpsProxyAgent, and the
// browser-style OpenAIRealtimeWebSocket (the key as the subprotocol openai-insecure-api-key.KEY)
// over ws's WebSocket with the same agent; tollgate's CA through NODE_EXTRA_CA_CERTS. Driven by
// tests/integration/test_node_realtime.py, which reads the one JSON object this prints:
//   ws, browser — per client: the session id tollgate gave, the event types received, the
//   responses completed before the refusal, the refusal's error as the SDK raised it, any
//   tollgate.budget_warning, and the close code and reason.
// Env: TOLLGATE_PROXY (proxy URL), NODE_EXTRA_CA_CERTS.
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { OpenAIRealtimeWebSocket } from 'openai/realtime/websocket';
import { HttpsProxyAgent } from 'https-proxy-agent';
import WebSocket from 'ws';

const proxy = process.env.TOLLGATE_PROXY;
if (!proxy) throw new Error('TOLLGATE_PROXY is not set');
const agent = new HttpsProxyAgent(proxy);
const model = 'gpt-realtime-mini';

// Sends response.create after each response.done until tollgate refuses one; resolves when the
// socket has closed.
function drive(rt, socket, name) {
  return new Promise((resolve) => {
    const out = { session: null, types: [], completed: 0, error: null, warnings: [], close: null };
    const timer = setTimeout(() => {
      out.timed_out = true;
      resolve(out);
    }, 20_000);
    const create = () => rt.send({ type: 'response.create', event_id: `${name}-${out.completed}` });
    rt.on('event', (event) => out.types.push(event.type));
    rt.on('session.created', () => {
      rt.send({ type: 'session.update', session: { type: 'realtime', max_output_tokens: 100 } });
    });
    rt.on('session.updated', create);
    rt.on('response.done', () => {
      out.completed += 1;
      create();
    });
    // An unknown type is emitted by its name, like any server event.
    rt.on('tollgate.budget_warning', (event) => out.warnings.push(event));
    rt.on('error', (err) => {
      out.error = { name: err?.constructor?.name, message: err?.message, error: err?.error ?? null };
    });
    const onClose = (code, reason) => {
      clearTimeout(timer);
      out.close = { code, reason: String(reason) };
      resolve(out);
    };
    if (socket.on) socket.on('close', onClose);
    else socket.addEventListener('close', (e) => onClose(e.code, e.reason));
    socket.on?.('upgrade', (res) => {
      out.session = res.headers['x-tollgate-session'] ?? null;
    });
  });
}

async function serverClient() {
  const client = new OpenAI({ apiKey: 'sk-node-rt' });
  const rt = new OpenAIRealtimeWS(
    { model, options: { agent, headers: { 'x-test-id': 'node-ws', 'x-client': 'node' } } },
    client,
  );
  return drive(rt, rt.socket, 'ws');
}

async function browserClient() {
  // What a browser does, with ws standing in for the browser's WebSocket: the SDK passes the key
  // as a subprotocol, and the agent carries it through the proxy.
  let upgraded = null;
  globalThis.WebSocket = class extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { agent, headers: { 'x-test-id': 'node-browser', 'x-client': 'node' } });
      this.on('upgrade', (res) => {
        upgraded = res.headers['x-tollgate-session'] ?? null;
      });
    }
  };
  const client = new OpenAI({ apiKey: 'sk-node-rt' });
  const rt = new OpenAIRealtimeWebSocket({ model }, client);
  const out = await drive(rt, rt.socket, 'browser');
  out.session = upgraded;
  out.protocol = rt.socket.protocol;
  return out;
}

const result = { ws: await serverClient(), browser: await browserClient() };
console.log(JSON.stringify(result));
