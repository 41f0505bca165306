/**
 * Copies each bench's last results (bench/results/NAME.md, written by the bench itself) into README.md between
 * `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`, so the README's numbers always come from a run of the code,
 * with the machine they ran on. A section without a results file is left as it is, and said so.
 *
 *   node dist/bench/readme.js [--check]   (--check: exit 1 if README.md differs from the results, change nothing)
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, RESULTS_DIR } from './lib/report';

const README = path.join(REPO, 'README.md');
const SECTION = /(<!-- bench:([a-z0-9-]+) -->\n)([\s\S]*?)(<!-- \/bench:\2 -->)/g;

export function fillSections(readme: string, resultOf: (name: string) => string | null): { text: string; filled: string[]; kept: string[] } {
  const filled: string[] = [];
  const kept: string[] = [];
  const text = readme.replace(SECTION, (whole, open: string, name: string, _body: string, close: string) => {
    const result = resultOf(name);
    if (result === null) {
      kept.push(name);
      return whole;
    }
    filled.push(name);
    return `${open}${result.trim()}\n${close}`;
  });
  return { text, filled, kept };
}

function main(): void {
  const check = process.argv.includes('--check');
  const before = readFileSync(README, 'utf8');
  const { text, filled, kept } = fillSections(before, (name) => {
    const file = path.join(RESULTS_DIR, `${name}.md`);
    return existsSync(file) ? readFileSync(file, 'utf8') : null;
  });
  if (filled.length + kept.length === 0) {
    console.error('bench/readme: README.md has no <!-- bench:NAME --> sections');
    process.exitCode = 1;
    return;
  }
  const changed = text !== before;
  if (check) {
    console.log(changed ? 'README.md differs from bench/results' : 'README.md matches bench/results');
    process.exitCode = changed ? 1 : 0;
    return;
  }
  if (changed) writeFileSync(README, text);
  console.log(`README.md: ${filled.length ? `filled ${filled.join(', ')} from bench/results` : 'no results to fill'}` +
    `${kept.length ? `; kept ${kept.join(', ')} as they are (no bench/results/NAME.md)` : ''}${changed ? '' : '; nothing changed'}`);
}

if (require.main === module) main();
