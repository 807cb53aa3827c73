import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mdTable, writeReport } from '../../src/report/report.ts';

test("report.html is rendered from the sections' Markdown; raw HTML in it is printed as text", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cram-report-md-'));
  try {
    const table = mdTable(
      ['Token', 'Count'],
      [
        ['<unk>', '3'],
        ['a | b', '4'],
      ],
    );
    await writeReport(
      dir,
      {
        summary: ['Texts: **2**', 'Model `m<s>`'],
        notes: ['A note with <b>no</b> markup.'],
        sections: [{ title: 'Tokens & counts', markdown: `Some *emphasis*.\n\n${table}` }],
        tables: [],
        figures: [{ name: 'none', title: 'Empty', caption: 'x', skipped: 'no data' }],
      },
      { title: 'R <1>', config: { a: '<x>' }, wallSeconds: 2 },
    );
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    assert.ok(md.includes('## Tokens & counts\n\nSome *emphasis*.\n\n| Token | Count |\n|---|---|\n| <unk> | 3 |\n'));
    assert.ok(md.includes('| a \\| b | 4 |'));
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    assert.match(html, /<title>R &lt;1&gt;<\/title>/);
    assert.match(html, /<h2>Tokens &amp; counts<\/h2>/);
    assert.match(html, /<p>Some <em>emphasis<\/em>\.<\/p>/);
    assert.match(html, /<table>[\s\S]*<th>Token<\/th>[\s\S]*<td>&lt;unk&gt;<\/td>[\s\S]*<td>a \| b<\/td>/);
    assert.match(html, /<li>Texts: <strong>2<\/strong><\/li>/);
    assert.match(html, /<code>m&lt;s&gt;<\/code>/);
    assert.match(html, /<p>A note with &lt;b&gt;no&lt;\/b&gt; markup\.<\/p>/);
    assert.ok(!html.includes('<b>'), 'raw HTML must not pass through');
    assert.match(html, /<em>Not drawn \(<code>none<\/code>\): no data\.<\/em>/);
    assert.match(html, /&quot;a&quot;: &quot;&lt;x&gt;&quot;/);
    assert.match(html, /<h2>Wall time<\/h2>\n<p>2\.0 s \(0:00:02\.0\)<\/p>/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
