// index.html: one self-contained page (inline CSS, no script, no server, nothing fetched from the network) that
// opens from the file system; the only other files it uses are the incident pictures beside it.
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { imageKey } from './csv';
import { FACE_KINDS, RECORDING_FILE, type SessionReview } from './read-session';
import type { TimelineIncident } from './incidents-file';
import type { IncidentImage } from './thumbnails';

export interface PageInput {
  ranked: SessionReview[];
  images: ReadonlyMap<string, IncidentImage>;
  recordDir: string;
  since: Date | null;
  generatedAt: Date;
}

export const KIND_COLOURS: Readonly<Record<string, string>> = {
  no_face: '#d62728',
  multiple_faces: '#8e44ad',
  misaligned: '#f39c12',
  speech: '#1f77b4',
  disconnected: '#6c757d',
};
const OTHER_COLOUR = '#8c564b';

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:16px 20px;color:#1d2430;background:#fafbfc}
h1{font-size:22px;margin:4px 0}h2{font-size:18px;margin:0 0 6px}small,.muted{color:#5d6776}
table{border-collapse:collapse;width:100%;margin:8px 0}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e3e7ed;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.session{background:#fff;border:1px solid #dde2e9;border-radius:6px;padding:12px 16px;margin:16px 0}
.session.damaged{border-left:6px solid #c0392b}.session.attention{border-left:6px solid #f39c12}.session.clean{border-left:6px solid #27ae60}
.score{float:right;font-size:16px;font-weight:700}.rank{color:#5d6776;margin-right:6px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0}dt{color:#5d6776}dd{margin:0}
.problems{color:#a61b1b;margin:6px 0;padding-left:20px}.why{margin:6px 0;padding-left:20px;color:#3b4452}
.tl{position:relative;margin:10px 0 22px 90px}.lane{position:relative;height:16px;background:#eef1f5;margin:3px 0}
.lane b{position:absolute;left:-90px;width:84px;font-weight:400;font-size:12px;color:#5d6776;text-align:right}
.lane i{position:absolute;top:0;bottom:0;min-width:2px;opacity:.9}
.gap{position:absolute;top:0;bottom:14px;background:repeating-linear-gradient(45deg,rgba(0,0,0,.35) 0 4px,transparent 4px 8px)}
.axis{position:relative;height:14px;font-size:11px;color:#5d6776}.axis span{position:absolute;transform:translateX(-50%)}
.key i{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:-2px}
figure{margin:0}figure img{display:block;width:240px;height:auto;border:1px solid #ccd3dc;background:#000}
figcaption{font-size:12px;color:#5d6776;max-width:240px}.bad{color:#a61b1b}code{font-size:12px;word-break:break-all}
`;

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const colour = (kind: string): string => KIND_COLOURS[kind] ?? OTHER_COLOUR;

export function utc(d: Date | null): string {
  return d ? d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : 'unknown';
}

export function secs(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const r = String(t % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

function tickStep(durationS: number): number {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
  return steps.find((s) => durationS / s <= 10) ?? 14400;
}

function lane(label: string, items: TimelineIncident[], durationS: number): string {
  const spans = items.map((x) => {
    const end = x.end_s ?? x.start_s;
    const left = Math.min(100, (x.start_s / durationS) * 100);
    const width = Math.max(0, Math.min(100 - left, ((end - x.start_s) / durationS) * 100));
    const title = `${x.kind} #${x.id}: ${secs(x.start_s)} to ${secs(end)} (${secs(end - x.start_s)})`;
    return `<i style="left:${left.toFixed(3)}%;width:${width.toFixed(3)}%;background:${colour(x.kind)}" title="${esc(title)}"></i>`;
  });
  return `<div class="lane"><b>${esc(label)}</b>${spans.join('')}</div>`;
}

function timeline(s: SessionReview): string {
  const d = s.durationS > 0 ? s.durationS : 1;
  const face = s.incidents.filter((x) => FACE_KINDS.has(x.kind));
  const speech = s.incidents.filter((x) => x.kind === 'speech');
  const other = s.incidents.filter((x) => !FACE_KINDS.has(x.kind) && x.kind !== 'speech');
  const step = tickStep(d);
  const ticks: string[] = [];
  for (let t = 0; t <= d + 1e-9; t += step) ticks.push(`<span style="left:${((t / d) * 100).toFixed(3)}%">${secs(t)}</span>`);
  // The part of the timeline the file no longer holds (a recording cut short), hatched across every lane.
  const playable = s.recording?.playableS ?? d;
  const gap = playable < d - 0.05
    ? `<div class="gap" style="left:${((playable / d) * 100).toFixed(3)}%;right:0" title="${esc(`not in the file: it plays only to ${secs(playable)}`)}"></div>`
    : '';
  return `<div class="tl" aria-label="timeline of ${esc(secs(d))}">${lane('face', face, d)}${lane('speech', speech, d)}${lane('connection', other, d)}${gap}<div class="axis">${ticks.join('')}</div></div>`;
}

function imageCell(s: SessionReview, x: TimelineIncident, images: ReadonlyMap<string, IncidentImage>): string {
  if (!FACE_KINDS.has(x.kind)) return '<span class="muted">-</span>';
  const img = images.get(imageKey(s, x.id));
  if (!img) return '<span class="muted">no picture taken</span>';
  if (!img.ok) return `<span class="bad">no picture: ${esc(img.why)}</span>`;
  const at = img.frameS === null ? '' : `frame at ${img.frameS.toFixed(3)} s; `;
  const boxes = x.faces === null ? 'face boxes not recorded by the server' : x.faces.length ? `${x.faces.length} face box(es) drawn` : 'no face in the record';
  return `<figure><img src="${esc(img.href)}" alt="${esc(`${x.kind} at ${secs(x.start_s)}`)}" loading="lazy"><figcaption>${esc(at + boxes)}</figcaption></figure>`;
}

function incidentsTable(s: SessionReview, images: ReadonlyMap<string, IncidentImage>): string {
  if (!s.incidents.length) return '<p class="muted">No incidents.</p>';
  const rows = s.incidents.map((x) => {
    const end = x.end_s ?? x.start_s;
    const closed = x.closedBy === 'server' ? '' : ` <small>(closed by ${x.closedBy === 'repair' ? "the server's crash repair" : 'this report: still open at the end'})</small>`;
    return `<tr><td class="num">${x.id}</td><td><span style="color:${colour(x.kind)}">&#9632;</span> ${esc(x.kind)}${closed}</td><td class="num">${secs(x.start_s)}</td><td class="num">${secs(end - x.start_s)}</td><td class="num">${esc(s.startedAt ? utc(new Date(s.startedAt.getTime() + x.start_s * 1000)) : '')}</td><td>${imageCell(s, x, images)}</td></tr>`;
  });
  return `<table class="incidents"><thead><tr><th class="num">#</th><th>kind</th><th class="num">start</th><th class="num">lasted</th><th class="num">at</th><th>picture at its start</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function sessionState(s: SessionReview): 'damaged' | 'attention' | 'clean' {
  if (s.problems.length) return 'damaged';
  return s.score > 0 ? 'attention' : 'clean';
}

function recordingLine(s: SessionReview): string {
  const r = s.recording;
  if (!r) return '<span class="bad">not readable</span>';
  const frames = r.videoFrames ?? s.facts?.framesWritten;
  const audio = r.audioEndS ?? s.facts?.audioSeconds;
  const parts = [`${secs(r.durationS)}`, frames === null || frames === undefined ? null : `${frames} video frames`, audio === null || audio === undefined ? null : `${audio.toFixed(1)} s of audio`];
  parts.push(r.finalised ? 'finalised' : 'not finalised');
  if (r.hasSubtitles) parts.push('incident subtitles inside');
  return esc(parts.filter((p) => p !== null).join(', '));
}

function sessionSection(s: SessionReview, rank: number, p: PageInput): string {
  const mkv = path.resolve(p.recordDir, s.rel, RECORDING_FILE);
  const ended = s.ended === null ? 'unknown' : s.ended + (s.facts?.endCause && s.facts.endCause !== s.ended ? ` (${s.facts.endCause})` : '');
  const why = s.scoreParts.length ? `<ul class="why">${s.scoreParts.map((q) => `<li>${esc(q.what)}: ${q.points.toFixed(1)}</li>`).join('')}</ul>` : '';
  const problems = s.problems.length ? `<ul class="problems">${s.problems.map((q) => `<li>${esc(q.what)}</li>`).join('')}</ul>` : '';
  return `<section class="session ${sessionState(s)}" id="s${rank}">
<h2><span class="rank">#${rank}</span>${esc(s.candidateId)} <small>${esc(s.sessionId)}</small><span class="score">priority ${s.score.toFixed(1)}</span></h2>
<dl><dt>started</dt><dd>${esc(utc(s.startedAt))}</dd><dt>ended</dt><dd>${esc(utc(s.endedAt))}</dd><dt>how it ended</dt><dd>${esc(ended)}</dd>
<dt>recording</dt><dd>${recordingLine(s)}: <code><a href="${esc(pathToFileURL(mkv).href)}">${esc(mkv)}</a></code></dd>
${s.facts?.remoteAddress ? `<dt>from</dt><dd>${esc(s.facts.remoteAddress)}</dd>` : ''}</dl>
${problems}${why}${timeline(s)}${incidentsTable(s, p.images)}
</section>`;
}

function ranking(p: PageInput): string {
  const rows = p.ranked.map((s, i) => {
    const n = s.problems.length;
    return `<tr><td class="num">${i + 1}</td><td class="num">${s.score.toFixed(1)}</td><td><a href="#s${i + 1}">${esc(s.candidateId)}</a></td><td>${esc(utc(s.startedAt))}</td><td class="num">${secs(s.durationS)}</td><td>${esc(s.ended ?? 'unknown')}</td><td class="num">${s.incidents.length}</td><td class="${n ? 'bad' : 'muted'}">${n ? `${n} problem(s)` : '-'}</td></tr>`;
  });
  return `<table class="ranking"><thead><tr><th class="num">rank</th><th class="num">priority</th><th>candidate</th><th>started</th><th class="num">length</th><th>ended</th><th class="num">incidents</th><th>files</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

export function renderPage(p: PageInput): string {
  const damaged = p.ranked.filter((s) => s.problems.length).length;
  const attention = p.ranked.filter((s) => s.score > 0).length;
  const key = Object.entries(KIND_COLOURS).map(([k, c]) => `<i style="background:${c}"></i>${esc(k)}`).join('');
  const since = p.since ? `, sessions started since ${esc(utc(p.since))}` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>vigil review: ${p.ranked.length} session(s)</title><style>${CSS}</style></head>
<body><header><h1>Review report</h1>
<p>${p.ranked.length} session(s) in <code>${esc(path.resolve(p.recordDir))}</code>${since}; generated ${esc(utc(p.generatedAt))}.
${attention} with something to review, ${damaged} with problems in their files or how they ended. Ranked by review priority (0: nothing to look at; see README, <em>vigil report</em>, for the formula).
Pictures are the recording's frame at each face incident's start; this server does not record face positions with incidents, so no boxes are drawn unless an incident record has them.</p>
<p class="key">${key}</p></header>
${ranking(p)}
${p.ranked.map((s, i) => sessionSection(s, i + 1, p)).join('\n')}
</body></html>
`;
}
