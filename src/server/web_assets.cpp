// The web page at / (for browsers) and /ui.
#include "server/routes.h"

namespace refusal::server {

const std::string& web_page_html() {
  static const std::string html = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>refusal: is this answer a refusal?</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #1d232a; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; }
  p.sub { margin-top: 0; color: #5b6570; }
  textarea { width: 100%; min-height: 9rem; font: inherit; padding: .6rem; box-sizing: border-box; border: 1px solid #b8c0c8; border-radius: 6px; }
  .row { display: flex; gap: .8rem; align-items: center; margin: .7rem 0; flex-wrap: wrap; }
  button { font: inherit; padding: .45rem 1.2rem; border: 0; border-radius: 6px; background: #1f5fbf; color: white; cursor: pointer; }
  label { color: #5b6570; font-size: .9rem; }
  input { font: inherit; padding: .3rem; border: 1px solid #b8c0c8; border-radius: 4px; }
  #verdict { font-size: 1.25rem; font-weight: 600; margin: 1rem 0 .4rem; }
  #verdict.refusal { color: #b3261e; }
  #verdict.normal { color: #1e7d32; }
  #text { white-space: pre-wrap; border: 1px solid #dde2e7; border-radius: 6px; padding: .8rem; background: #fafbfc; }
  .s { border-radius: 3px; }
  .s.flag { background: #ffd6d1; outline: 2px solid #e06a5e; }
  .score { font-size: .75rem; color: #5b6570; vertical-align: super; margin-left: .15rem; }
  #error { color: #b3261e; }
</style>
</head>
<body>
<h1>Is this answer a refusal?</h1>
<p class="sub">Paste an LLM's answer. Each sentence is scored by the model; the sentences that read as a refusal are highlighted.</p>
<textarea id="answer" placeholder="I'm sorry, but I can't help with that."></textarea>
<div class="row">
  <button id="check">Check</button>
  <label>threshold <input id="threshold" type="number" min="0" max="1" step="0.05" value="0.5" style="width:5rem"></label>
  <label>API key <input id="key" type="password" placeholder="(if the server needs one)"></label>
</div>
<div id="verdict"></div>
<div id="text" hidden></div>
<div id="error"></div>
<p class="sub" id="model" style="margin-top:1.5rem;font-size:.85rem"></p>
<script>
const $ = (id) => document.getElementById(id);
function esc(s) { return s.replace(/[&<>"]/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c])); }
async function check() {
  const text = $('answer').value;
  $('error').textContent = '';
  const threshold = parseFloat($('threshold').value);
  const headers = {'Content-Type': 'application/json'};
  if ($('key').value) headers['Authorization'] = 'Bearer ' + $('key').value;
  let res, body;
  try {
    res = await fetch('/v1/classify', {method: 'POST', headers,
      body: JSON.stringify({text, match: 'sentence', explain: true, sentences: true, threshold})});
    body = await res.json();
  } catch (e) { $('error').textContent = 'Request failed: ' + e; return; }
  if (!res.ok) { $('error').textContent = body.error || ('HTTP ' + res.status); return; }
  const r = body.results[0];
  if (r.error) { $('error').textContent = r.error; return; }
  const v = $('verdict');
  v.className = r.refusal ? 'refusal' : 'normal';
  v.textContent = (r.refusal ? 'Refusal' : 'Not a refusal') + ' (score ' + r.score.toFixed(3) + ')';
  const cps = Array.from(text);
  let html = '', at = 0;
  for (const s of r.sentences) {
    html += esc(cps.slice(at, s.start).join(''));
    const flag = s.refusal ? ' flag' : '';
    html += '<span class="s' + flag + '" title="score ' + s.score.toFixed(3) + '">' +
            esc(cps.slice(s.start, s.end).join('')) + '</span><span class="score">' +
            s.score.toFixed(2) + '</span>';
    at = s.end;
  }
  html += esc(cps.slice(at).join(''));
  $('text').innerHTML = html;
  $('text').hidden = false;
  document.body.dataset.done = '1';
}
$('check').addEventListener('click', check);
fetch('/info').then((r) => r.json()).then((i) => { $('model').textContent = 'Model: ' + i.model_id + ' (' + i.model_dtype + ')'; }).catch(() => {});
const params = new URLSearchParams(location.search);
if (params.get('text')) { $('answer').value = params.get('text'); if (params.get('threshold')) $('threshold').value = params.get('threshold'); check(); }
</script>
</body>
</html>
)HTML";
  return html;
}

}  // namespace refusal::server
