// The versions of the SDKs the Node tests drive, as their reports name them.
import { readFileSync } from 'node:fs';

const version = (name) =>
  JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url))).version;

export const sdkVersions = () => ({
  openai: version('openai'),
  anthropic: version('@anthropic-ai/sdk'),
  genai: version('@google/genai'),
});
