// The official Node SDKs pointed at tollgate's base URLs (DESIGN §14), as a user without a CA sets
// them up: openai with baseURL http://HOST/openai/v1, @anthropic-ai/sdk with baseURL
// http://HOST/anthropic, @google/genai with httpOptions.baseUrl http://HOST/gemini. No proxy agent
// and no extra CA: plain HTTP to tollgate, which speaks verified TLS to the provider. Driven by
// tests/integration/test_node_base_url.py, which reads the one JSON object printed on stdout:
// for each SDK a JSON call, a streamed call and a call the budget refuses (the SDK's own error,
// and how many fetches the SDK made for it). Env: TOLLGATE_BASE (http://127.0.0.1:PORT).
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import { sdkVersions } from './sdk_versions.mjs';

const base = process.env.TOLLGATE_BASE;
if (!base) throw new Error('TOLLGATE_BASE is not set');

// Every attempt an SDK makes goes through Node's fetch: counting it counts retries.
let fetchCalls = 0;
const nodeFetch = globalThis.fetch;
globalThis.fetch = (...args) => {
  fetchCalls += 1;
  return nodeFetch(...args);
};
const countingFetch = (...args) => globalThis.fetch(...args);

const messages = [{ role: 'user', content: 'count to three' }];
const fake = (reqId) => ({ 'x-fake-usage': '50,100', 'x-req-id': reqId });

function errorFacts(err) {
  const header = (name) => err?.headers?.get?.(name) ?? err?.headers?.[name] ?? null;
  return {
    name: err?.constructor?.name,
    status: err?.status,
    message: err?.message,
    x_should_retry: header('x-should-retry'),
    x_tollgate_refused: header('x-tollgate-refused'),
  };
}

// Runs `call` expecting an error; what the SDK threw and how many fetches it took.
async function refused(call, classes) {
  const before = fetchCalls;
  const t0 = performance.now();
  try {
    await call();
    return { answered: true, fetch_calls: fetchCalls - before };
  } catch (err) {
    const facts = errorFacts(err);
    for (const [name, cls] of Object.entries(classes)) facts[name] = err instanceof cls;
    return { error: facts, fetch_calls: fetchCalls - before, ms: Math.round(performance.now() - t0) };
  }
}

const openai = new OpenAI({ apiKey: 'sk-node-base', baseURL: `${base}/openai/v1`, fetch: countingFetch, timeout: 20_000 });
const anthropic = new Anthropic({ apiKey: 'sk-ant-node', baseURL: `${base}/anthropic`, fetch: countingFetch, timeout: 20_000 });
const genai = new GoogleGenAI({ apiKey: 'g-node', httpOptions: { baseUrl: `${base}/gemini` } });

async function openaiJson() {
  const before = fetchCalls;
  const { data, response } = await openai.chat.completions
    .create({ model: 'gpt-4o-mini', max_tokens: 100, messages }, { headers: fake('node-base-openai') })
    .withResponse();
  return { content: data.choices[0].message.content, usage: data.usage,
           x_tollgate_cost: response.headers.get('x-tollgate-cost'), fetch_calls: fetchCalls - before };
}

async function openaiStream() {
  const out = { chunks: 0, text: '', usage: null };
  const s = await openai.chat.completions.create(
    { model: 'gpt-4o-mini', max_tokens: 100, messages, stream: true }, { headers: fake('node-base-openai-sse') });
  for await (const chunk of s) {
    out.chunks += 1;
    if (chunk.usage) out.usage = chunk.usage;
    out.text += chunk.choices[0].delta.content ?? '';
  }
  return out;
}

async function anthropicJson() {
  const m = await anthropic.messages.create(
    { model: 'claude-sonnet-4-5', max_tokens: 100, messages }, { headers: fake('node-base-ant') });
  return { text: m.content[0].text, usage: m.usage };
}

async function anthropicStream() {
  const out = { events: 0, text: '', output_tokens: null };
  const s = await anthropic.messages.create(
    { model: 'claude-sonnet-4-5', max_tokens: 100, messages, stream: true }, { headers: fake('node-base-ant-sse') });
  for await (const event of s) {
    out.events += 1;
    if (event.type === 'content_block_delta') out.text += event.delta.text;
    if (event.type === 'message_delta') out.output_tokens = event.usage.output_tokens;
  }
  return out;
}

const gemHeaders = (reqId) => ({ httpOptions: { headers: fake(reqId) } });

async function geminiJson() {
  const r = await genai.models.generateContent({
    model: 'gemini-2.0-flash', contents: 'hi', config: { maxOutputTokens: 100, ...gemHeaders('node-base-gem') } });
  return { text: r.text, usage: r.usageMetadata };
}

async function geminiStream() {
  const out = { chunks: 0, text: '', usage: null };
  const s = await genai.models.generateContentStream({
    model: 'gemini-2.0-flash', contents: 'hi', config: { maxOutputTokens: 100, ...gemHeaders('node-base-gem-sse') } });
  for await (const chunk of s) {
    out.chunks += 1;
    out.text += chunk.text ?? '';
    if (chunk.usageMetadata?.candidatesTokenCount) out.usage = chunk.usageMetadata;
  }
  return out;
}

const result = {
  node: process.version,
  versions: sdkVersions(),
};
const step = async (name, fn) => {
  try {
    result[name] = await fn();
  } catch (err) {
    result[name] = { failed: errorFacts(err), stack: String(err?.stack ?? err) };
  }
};
await step('openai_json', openaiJson);
await step('openai_stream', openaiStream);
await step('anthropic_json', anthropicJson);
await step('anthropic_stream', anthropicStream);
await step('gemini_json', geminiJson);
await step('gemini_stream', geminiStream);
// Refusals: each asks for more output than the whole budget could pay for (SDK retries at their
// defaults: the refusal itself must stop them).
await step('openai_refused', () => refused(
  () => openai.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 16000, messages },
                                       { headers: fake('node-base-openai-refused') }),
  { is_rate_limit_error: OpenAI.RateLimitError }));
await step('anthropic_refused', () => refused(
  () => anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 1000, messages },
                                  { headers: fake('node-base-ant-refused') }),
  { is_rate_limit_error: Anthropic.RateLimitError }));
await step('gemini_refused', () => refused(
  () => genai.models.generateContent({ model: 'gemini-2.0-flash', contents: 'hi',
                                      config: { maxOutputTokens: 60000, ...gemHeaders('node-base-gem-refused') } }),
  {}));
process.stdout.write(JSON.stringify(result) + '\n');
