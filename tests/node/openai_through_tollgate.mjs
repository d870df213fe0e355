// The official openai SDK, as a Node user would set it up behind tollgate: the default baseURL
// (https://api.openai.com/v1), undici's ProxyAgent as the dispatcher (Node < 24 ignores
// HTTPS_PROXY) and tollgate's CA through NODE_EXTRA_CA_CERTS. Driven by
// tests/integration/test_node_openai.py, which starts tollgate and reads the one JSON object this
// prints on stdout:
//   chat    — a plain completion: text, usage, tollgate's cost header, fetch calls it took
//   stream  — stream: true read naively (chunk.choices[0].delta), what arrived, what threw
//   asked   — stream: true with include_usage asked for by the client: its usage chunk
//   spend   — completions until the budget refuses one: answers, then the SDK's error
// Env: TOLLGATE_PROXY (proxy URL), NODE_EXTRA_CA_CERTS (read by Node at start), SPEND_MAX.
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { fetch as undiciFetch, ProxyAgent } from 'undici';

const proxy = process.env.TOLLGATE_PROXY;
if (!proxy) throw new Error('TOLLGATE_PROXY is not set');

// Every attempt the SDK makes goes through this fetch, so retries are counted where they happen.
let fetchCalls = 0;
const countingFetch = (...args) => {
  fetchCalls += 1;
  return undiciFetch(...args);
};

const dispatcher = new ProxyAgent(proxy);
const client = new OpenAI({
  apiKey: 'sk-node-test',
  fetch: countingFetch,
  fetchOptions: { dispatcher },
  timeout: 20_000,
  // maxRetries stays at the SDK's default (2): a refusal must stop it by itself.
});

const messages = [{ role: 'user', content: 'count to three' }];
const fake = (reqId) => ({ headers: { 'x-fake-usage': '50,100', 'x-req-id': reqId } });

function errorFacts(err) {
  return {
    name: err?.constructor?.name,
    is_rate_limit_error: err instanceof OpenAI.RateLimitError,
    is_api_error: err instanceof OpenAI.APIError,
    status: err?.status,
    code: err?.code,
    type: err?.type,
    message: err?.message,
    error_message: err?.error?.message,
    x_should_retry: err?.headers?.get?.('x-should-retry') ?? null,
    retry_after: err?.headers?.get?.('retry-after') ?? null,
    x_tollgate_refused: err?.headers?.get?.('x-tollgate-refused') ?? null,
    x_tollgate_budget: err?.headers?.get?.('x-tollgate-budget') ?? null,
  };
}

async function chat() {
  const before = fetchCalls;
  const { data, response } = await client.chat.completions
    .create({ model: 'gpt-4o-mini', max_tokens: 100, messages }, fake('node-chat'))
    .withResponse();
  return {
    content: data.choices[0].message.content,
    usage: data.usage,
    x_tollgate_cost: response.headers.get('x-tollgate-cost'),
    fetch_calls: fetchCalls - before,
  };
}

// The loop every streaming example shows: it reads choices[0] of each chunk without a check.
async function stream(reqId, extra = {}) {
  const out = { chunks: 0, text: '', empty_choices: 0, usage: null, threw: null };
  const s = await client.chat.completions.create(
    { model: 'gpt-4o-mini', max_tokens: 100, messages, stream: true, ...extra }, fake(reqId));
  try {
    for await (const chunk of s) {
      out.chunks += 1;
      if (chunk.usage) out.usage = chunk.usage;
      if (!chunk.choices?.length) {
        out.empty_choices += 1;
        if (extra.stream_options?.include_usage) continue;  // asked for: this one is expected
      }
      out.text += chunk.choices[0].delta.content ?? '';
    }
  } catch (err) {
    out.threw = String(err?.stack ?? err);
  }
  return out;
}

async function spendUntilRefused(max) {
  const out = { answered: 0, refused: null, refused_fetch_calls: null, refused_ms: null };
  for (let i = 0; i < max; i++) {
    const before = fetchCalls;
    const t0 = performance.now();
    try {
      await client.chat.completions.create(
        { model: 'gpt-4o-mini', max_tokens: 100, messages }, fake(`node-spend-${i}`));
      out.answered += 1;
    } catch (err) {
      out.refused = { ...errorFacts(err), req_id: `node-spend-${i}` };
      out.refused_fetch_calls = fetchCalls - before;
      out.refused_ms = Math.round(performance.now() - t0);
      break;
    }
  }
  return out;
}

const sdk = JSON.parse(readFileSync(new URL('./node_modules/openai/package.json', import.meta.url)));
const result = { node: process.version, openai: sdk.version };
const step = async (name, fn) => {
  try {
    result[name] = await fn();
  } catch (err) {
    result[name] = { failed: errorFacts(err), stack: String(err?.stack ?? err) };
  }
};
await step('chat', chat);
await step('stream', () => stream('node-stream'));
await step('asked', () => stream('node-asked', { stream_options: { include_usage: true } }));
await step('spend', () => spendUntilRefused(Number(process.env.SPEND_MAX ?? 30)));
await dispatcher.close();
process.stdout.write(JSON.stringify(result) + '\n');
