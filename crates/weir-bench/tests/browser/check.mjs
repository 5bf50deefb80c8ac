// Opens an HTML bench report in Chromium and checks what a reader would notice: no console
// errors, every plot drawn, a hostile benchmark name shown as text and never run, and a page
// that looks like the committed screenshot.
//
// usage: node check.mjs REPORT.html REFERENCE.png OUT_DIR
// Writes OUT_DIR/report.png (and OUT_DIR/diff.png when the screenshots differ). With
// UPDATE_SCREENSHOT=1 it writes REFERENCE.png instead of comparing. CHROMIUM names the browser
// (default /usr/bin/chromium). The pixel comparison runs in the browser itself, on two canvases,
// so that no PNG library is needed.

import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [html, reference, outDir] = process.argv.slice(2);
if (!html || !reference || !outDir) {
  console.error('usage: node check.mjs REPORT.html REFERENCE.png OUT_DIR');
  process.exit(2);
}
// A pixel counts as different when a channel differs by more than this (of 255): anti-aliasing
// noise stays below it.
const CHANNEL_TOLERANCE = 24;
// The screenshot fails when more than this fraction of its pixels differ: the plots are thin
// lines, so recolouring all of them moves about 0.5%.
const MAX_DIFF_FRACTION = Number(process.env.MAX_DIFF_FRACTION ?? 0.002);
// The plots each benchmark section must draw, and those of the whole report (the fixture has a
// comparison, two benchmarks and a power series for each).
const BENCHMARK_PLOTS = ['Latency histogram', 'Latency CDF', 'Latency over time', 'Power over time'];
const REPORT_PLOTS = ['Ratio of medians, new / base, with 95% CI', 'Latency CDF, all benchmarks'];
const HOSTILE = '</script><img src=x onerror=alert(1)>';

const failures = [];
const fail = (message) => failures.push(message);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // The sandbox needs user namespaces, which a container running as root often lacks.
  args: ['--no-sandbox', '--font-render-hinting=none'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
  page.on('console', (m) => m.type() === 'error' && fail(`console error: ${m.text()}`));
  page.on('pageerror', (e) => fail(`page error: ${e.message}`));
  page.on('dialog', (d) => {
    fail(`a dialog opened (a script ran): ${d.message()}`);
    d.dismiss();
  });
  await page.goto(pathToFileURL(resolve(html)).href, { waitUntil: 'load' });
  await checkPlots(page);
  await checkEscaping(page);
  mkdirSync(outDir, { recursive: true });
  const shot = await page.screenshot({ fullPage: true });
  writeFileSync(join(outDir, 'report.png'), shot);
  if (process.env.UPDATE_SCREENSHOT === '1') {
    writeFileSync(reference, shot);
    console.log(`wrote ${reference}`);
  } else {
    await compare(browser, shot, readFileSync(reference), join(outDir, 'diff.png'));
  }
} finally {
  await browser.close();
}

if (failures.length > 0) {
  console.error(failures.map((f) => `FAIL ${f}`).join('\n'));
  process.exit(1);
}
console.log('the HTML report renders as expected');

async function checkPlots(page) {
  const plots = await page.$$eval('svg', (svgs) =>
    svgs.map((svg) => {
      const box = svg.getBoundingClientRect();
      const drawn = [...svg.querySelectorAll('path')].filter((p) => {
        const b = p.getBBox();
        return (p.getAttribute('d') || '').length > 0 && (b.width > 0 || b.height > 0);
      });
      const section = svg.closest('section.bench');
      return {
        title: svg.querySelector('title')?.textContent ?? '',
        section: section ? section.id : null,
        width: box.width,
        height: box.height,
        paths: drawn.length,
      };
    }),
  );
  const sections = await page.$$eval('section.bench', (s) => s.map((e) => e.id));
  if (sections.length !== 2) fail(`expected 2 benchmark sections, found ${sections.length}`);
  const expect = (title, section) => {
    const plot = plots.find((p) => p.title === title && p.section === section);
    const where = section ?? 'the report';
    if (!plot) return fail(`no plot "${title}" in ${where}`);
    if (plot.width <= 0 || plot.height <= 0) fail(`plot "${title}" in ${where} has no size`);
    // The frame's axis is one path; the data are at least one more.
    if (plot.paths < 2) fail(`plot "${title}" in ${where} draws no data`);
  };
  for (const section of sections) BENCHMARK_PLOTS.forEach((t) => expect(t, section));
  REPORT_PLOTS.forEach((t) => expect(t, null));
}

async function checkEscaping(page) {
  const images = await page.$$eval('img', (i) => i.length);
  if (images > 0) fail(`${images} <img> element(s) in the page: a benchmark name was read as markup`);
  const text = await page.evaluate(() => document.body.innerText);
  if (!text.includes(HOSTILE)) fail('the hostile benchmark name is not shown as text');
}

async function compare(browser, actual, expected, diffPath) {
  const page = await browser.newPage();
  const result = await page.evaluate(
    async ({ a, b, tolerance }) => {
      const load = (src) =>
        new Promise((ok, err) => {
          const img = new Image();
          img.onload = () => ok(img);
          img.onerror = () => err(new Error('cannot decode a screenshot'));
          img.src = src;
        });
      const [ia, ib] = await Promise.all([load(a), load(b)]);
      if (ia.width !== ib.width || ia.height !== ib.height) {
        return { sizes: `${ia.width}x${ia.height} against the reference's ${ib.width}x${ib.height}` };
      }
      const pixels = (img) => {
        const c = new OffscreenCanvas(img.width, img.height);
        const ctx = c.getContext('2d');
        ctx.drawImage(img, 0, 0);
        return ctx.getImageData(0, 0, img.width, img.height);
      };
      const [pa, pb] = [pixels(ia), pixels(ib)];
      const canvas = document.createElement('canvas');
      canvas.width = ia.width;
      canvas.height = ia.height;
      const ctx = canvas.getContext('2d');
      const out = ctx.createImageData(ia.width, ia.height);
      let different = 0;
      for (let i = 0; i < pa.data.length; i += 4) {
        let d = 0;
        for (let k = 0; k < 3; k++) d = Math.max(d, Math.abs(pa.data[i + k] - pb.data[i + k]));
        const off = d > tolerance;
        if (off) different++;
        // Differences in red over a faded copy of the reference.
        const grey = 255 - (255 - pb.data[i]) / 4;
        out.data.set(off ? [255, 0, 0, 255] : [grey, grey, grey, 255], i);
      }
      ctx.putImageData(out, 0, 0);
      return { fraction: different / (pa.data.length / 4), diff: canvas.toDataURL('image/png') };
    },
    {
      a: `data:image/png;base64,${actual.toString('base64')}`,
      b: `data:image/png;base64,${expected.toString('base64')}`,
      tolerance: CHANNEL_TOLERANCE,
    },
  );
  await page.close();
  if (result.sizes) return fail(`the screenshot is ${result.sizes}`);
  const percent = (result.fraction * 100).toFixed(3);
  if (result.fraction > MAX_DIFF_FRACTION) {
    writeFileSync(diffPath, Buffer.from(result.diff.split(',')[1], 'base64'));
    fail(`${percent}% of the screenshot's pixels differ from the reference (at most ${MAX_DIFF_FRACTION * 100}%); see ${diffPath}`);
  } else {
    console.log(`${percent}% of the screenshot's pixels differ from the reference`);
  }
}
