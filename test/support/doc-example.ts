// The JSON examples of a docs page, so a test runs exactly what the page shows: a fenced json
// block right after a line `<!-- example: NAME -->`.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export function docExample(page: string, name: string): Record<string, unknown> {
  const text = readFileSync(resolve(__dirname, '../../docs', page), 'utf8');
  const marker = `<!-- example: ${name} -->\n\`\`\`json\n`;
  const start = text.indexOf(marker);
  if (start < 0) throw new Error(`docs/${page} has no example ${name}`);
  const body = text.slice(start + marker.length);
  return JSON.parse(body.slice(0, body.indexOf('\n```'))) as Record<string, unknown>;
}
