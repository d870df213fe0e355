// The newest Node SDKs (openai, @anthropic-ai/sdk, @google/genai) through tollgate as a proxy
// (intercept mode, as a Node user sets it up: undici's ProxyAgent as the dispatcher, tollgate's CA
// through NODE_EXTRA_CA_CERTS), asking for the current models under every name a user writes:
// plain, dated snapshots, -latest aliases, Gemini's models/ prefix. Driven by
// tests/integration/test_node_current_models.py, which chooses the calls (env CASES, a JSON list)
// and checks tollgate's ledger against the catalog. Prints one JSON object on stdout: per case
// what the SDK saw (the model the answer names, its usage, tollgate's headers) or what it threw.
//
// A case: { id, api, model, headers, service_tier } (service_tier: sent in the body when set;
// the answer's is reported as `service_tier`) where api is one of openai-chat, openai-chat-stream,
// openai-responses, anthropic, anthropic-stream, gemini, gemini-stream, and headers are sent to
// the stand-in provider (x-fake-usage and friends, tests/integration/support/fake_provider.py).
// Env: TOLLGATE_PROXY (proxy URL), NODE_EXTRA_CA_CERTS (read by Node at start), CASES.
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import { sdkVersions } from './sdk_versions.mjs';
import { fetch as undiciFetch, ProxyAgent } from 'undici';

const proxy = process.env.TOLLGATE_PROXY;
if (!proxy) throw new Error('TOLLGATE_PROXY is not set');
const cases = JSON.parse(process.env.CASES ?? '[]');

// Every SDK's requests go through the proxy: openai and anthropic take a fetch, @google/genai
// uses the global one.
const dispatcher = new ProxyAgent(proxy);
let fetchCalls = 0;
const proxiedFetch = (input, init = {}) => {
  fetchCalls += 1;
  return undiciFetch(input, { ...init, dispatcher });
};
globalThis.fetch = proxiedFetch;

// maxRetries 0: a refused or failed call shows as what it is, not as a retry.
const openai = new OpenAI({ apiKey: 'sk-node-current', fetch: proxiedFetch, timeout: 20_000, maxRetries: 0 });
const anthropic = new Anthropic({ apiKey: 'sk-ant-current', fetch: proxiedFetch, timeout: 20_000, maxRetries: 0 });
const genai = new GoogleGenAI({ apiKey: 'g-current', httpOptions: { retryOptions: { attempts: 1 } } });

const messages = [{ role: 'user', content: 'count to three' }];

const fromHeaders = (get) => ({
  x_tollgate_cost: get('x-tollgate-cost') ?? null,
  x_tollgate_record: get('x-tollgate-record') ?? null,
});
const webHeaders = (response) => fromHeaders((name) => response.headers.get(name));
const plainHeaders = (headers) => fromHeaders((name) => headers?.[name]);

const tier = (c) => (c.service_tier ? { service_tier: c.service_tier } : {});

const calls = {
  async 'openai-chat'(c) {
    const { data, response } = await openai.chat.completions
      .create({ model: c.model, max_completion_tokens: 1000, messages, ...tier(c) }, { headers: c.headers })
      .withResponse();
    return { model: data.model, usage: data.usage, text: data.choices[0].message.content,
             service_tier: data.service_tier ?? null, ...webHeaders(response) };
  },
  async 'openai-chat-stream'(c) {
    const { data, response } = await openai.chat.completions
      .create({ model: c.model, max_completion_tokens: 1000, messages, stream: true,
                stream_options: { include_usage: true }, ...tier(c) }, { headers: c.headers })
      .withResponse();
    const out = { model: null, usage: null, text: '', service_tier: null, ...webHeaders(response) };
    for await (const chunk of data) {
      out.model = chunk.model ?? out.model;
      out.service_tier = chunk.service_tier ?? out.service_tier;
      if (chunk.usage) out.usage = chunk.usage;
      out.text += chunk.choices?.[0]?.delta?.content ?? '';
    }
    return out;
  },
  async 'openai-responses'(c) {
    const { data, response } = await openai.responses
      .create({ model: c.model, max_output_tokens: 1000, input: 'count to three', ...tier(c) },
              { headers: c.headers })
      .withResponse();
    return { model: data.model, usage: data.usage, text: data.output_text,
             service_tier: data.service_tier ?? null, ...webHeaders(response) };
  },
  async anthropic(c) {
    const { data, response } = await anthropic.messages
      .create({ model: c.model, max_tokens: 1000, messages }, { headers: c.headers })
      .withResponse();
    return { model: data.model, usage: data.usage, text: data.content[0].text, ...webHeaders(response) };
  },
  async 'anthropic-stream'(c) {
    const { data, response } = await anthropic.messages
      .create({ model: c.model, max_tokens: 1000, messages, stream: true }, { headers: c.headers })
      .withResponse();
    const out = { model: null, usage: null, text: '', ...webHeaders(response) };
    for await (const event of data) {
      if (event.type === 'message_start') {
        out.model = event.message.model;
        out.usage = { ...event.message.usage };
      }
      if (event.type === 'content_block_delta') out.text += event.delta.text;
      if (event.type === 'message_delta') out.usage = { ...out.usage, ...event.usage };
    }
    return out;
  },
  async gemini(c) {
    const r = await genai.models.generateContent({
      model: c.model, contents: 'count to three',
      config: { maxOutputTokens: 1000, httpOptions: { headers: c.headers } } });
    return { model: r.modelVersion, usage: r.usageMetadata, text: r.text,
             ...plainHeaders(r.sdkHttpResponse?.headers) };
  },
  async 'gemini-stream'(c) {
    const s = await genai.models.generateContentStream({
      model: c.model, contents: 'count to three',
      config: { maxOutputTokens: 1000, httpOptions: { headers: c.headers } } });
    const out = { model: null, usage: null, text: '' };
    for await (const chunk of s) {
      out.model = chunk.modelVersion ?? out.model;
      if (chunk.usageMetadata?.candidatesTokenCount) out.usage = chunk.usageMetadata;
      out.text += chunk.text ?? '';
      Object.assign(out, plainHeaders(chunk.sdkHttpResponse?.headers));
    }
    return out;
  },
};

const result = {
  node: process.version,
  versions: sdkVersions(),
  cases: {},
};
for (const c of cases) {
  const before = fetchCalls;
  try {
    if (!calls[c.api]) throw new Error(`no such api: ${c.api}`);
    result.cases[c.id] = { ...(await calls[c.api](c)), fetch_calls: fetchCalls - before };
  } catch (err) {
    const header = (name) => err?.headers?.get?.(name) ?? err?.headers?.[name] ?? null;
    result.cases[c.id] = {
      failed: { name: err?.constructor?.name, status: err?.status ?? null, message: String(err?.message ?? err),
                x_tollgate_refused: header('x-tollgate-refused') },
      fetch_calls: fetchCalls - before,
    };
  }
}
await dispatcher.close();
process.stdout.write(JSON.stringify(result) + '\n');
