// The official openai SDK's paid endpoints beyond chat, through tollgate as a Node user sets it
// up (see openai_through_tollgate.mjs): a Sora video (the SDK sends it as a multipart form), a
// batch input file uploaded with purpose "batch" and the batch made of it. Driven by
// tests/integration/test_node_paid_endpoints.py, which reads the one JSON object printed here.
// Env: TOLLGATE_PROXY (proxy URL), NODE_EXTRA_CA_CERTS (read by Node at start).
import OpenAI, { toFile } from 'openai';
import { fetch as undiciFetch, ProxyAgent } from 'undici';

const proxy = process.env.TOLLGATE_PROXY;
if (!proxy) throw new Error('TOLLGATE_PROXY is not set');

const dispatcher = new ProxyAgent(proxy);
const client = new OpenAI({
  apiKey: 'sk-node-test',
  fetch: undiciFetch,
  fetchOptions: { dispatcher },
  timeout: 20_000,
  maxRetries: 0,
});
const tagged = (test) => ({ headers: { 'x-test': test, 'x-req-id': test } });

const out = {};
{
  const { data, response } = await client.videos
    .create({ model: 'sora-2-pro', prompt: 'a cat', seconds: '8', size: '1792x1024' },
      tagged('node-video'))
    .withResponse();
  out.video = { id: data.id, seconds: data.seconds, cost: response.headers.get('x-tollgate-cost') };
}
{
  const line = JSON.stringify({
    custom_id: '1', method: 'POST', url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] },
  });
  const file = await client.files.create(
    { file: await toFile(Buffer.from(`${line}\n${line}\n`), 'in.jsonl'), purpose: 'batch' },
    tagged('node-batch'));
  const { data, response } = await client.batches
    .create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' },
      tagged('node-batch'))
    .withResponse();
  out.batch = { file: file.id, id: data.id, cost: response.headers.get('x-tollgate-cost') };
}
console.log(JSON.stringify(out));
