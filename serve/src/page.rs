//! The operator's status page (`GET /`): one self-contained HTML page whose script polls
//! `GET /status.json` each second and draws sessions, memory and evaluations per second over
//! the last minutes. No assets, no libraries: it works on a host with no way out.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::api::{gauges, ApiError, App};

/// `GET /`.
pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// `GET /status.json`: what the page shows.
pub async fn status(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let g = gauges(&app).await?;
    let env = app.registry.env();
    let m = &env.metrics;
    let history: Vec<_> = app
        .history
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .copied()
        .collect();
    Ok(Json(json!({
        "host": env.host.id,
        "url": env.host.url,
        "uptime_seconds": env.started.elapsed().as_secs_f64(),
        "sessions": {"live": g.live, "idle": g.idle, "stored": g.stored},
        "private_bytes": m.private_bytes.load(Relaxed).max(0),
        "rss_bytes": g.rss_bytes,
        "evaluations": m.evaluations.load(Relaxed),
        "resumes": m.resumes.load(Relaxed),
        "evictions": m.evictions.load(Relaxed),
        "eval_p50_seconds": m.eval_seconds.quantile(0.5),
        "eval_p99_seconds": m.eval_seconds.quantile(0.99),
        "base_checksum": format!("{:016x}", g.checksum),
        "history": history,
    }))
    .into_response())
}

const PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cowheap serve</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px} .sub{color:#666;margin-bottom:16px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:16px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:140px}
.card b{display:block;font-size:22px} .card span{color:#666;font-size:12px}
.chart{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;margin-bottom:12px}
.chart h2{font-size:13px;margin:0 0 4px;color:#444} svg{width:100%;height:120px}
#err{color:#b00}
</style></head><body>
<h1>cowheap serve</h1><div class="sub" id="sub">connecting&hellip;</div><div id="err"></div>
<div class="cards">
<div class="card"><b id="live">&ndash;</b><span>sessions live</span></div>
<div class="card"><b id="stored">&ndash;</b><span>sessions stored</span></div>
<div class="card"><b id="rate">&ndash;</b><span>evaluations / s</span></div>
<div class="card"><b id="evals">&ndash;</b><span>evaluations</span></div>
<div class="card"><b id="p99">&ndash;</b><span>p99 latency</span></div>
<div class="card"><b id="mem">&ndash;</b><span>private / resident memory</span></div>
</div>
<div class="chart"><h2>evaluations per second</h2><svg id="c-rate" viewBox="0 0 600 120" preserveAspectRatio="none"></svg></div>
<div class="chart"><h2>live sessions</h2><svg id="c-live" viewBox="0 0 600 120" preserveAspectRatio="none"></svg></div>
<div class="chart"><h2>resident memory (MB)</h2><svg id="c-mem" viewBox="0 0 600 120" preserveAspectRatio="none"></svg></div>
<script>
"use strict";
function mb(b){return (b/1048576).toFixed(1)+" MB"}
function draw(id,ys,color){
  const svg=document.getElementById(id); const max=Math.max(1,...ys);
  const pts=ys.map((y,i)=>((ys.length<2?0:i*600/(ys.length-1)).toFixed(1))+","+(115-y*105/max).toFixed(1)).join(" ");
  svg.innerHTML='<text x="4" y="12" font-size="11" fill="#888">'+max.toFixed(0)+'</text>'+
    '<polyline fill="none" stroke="'+color+'" stroke-width="2" points="'+pts+'"/>';
}
async function poll(){
  try{
    const r=await fetch("status.json",{cache:"no-store"}); const s=await r.json();
    const h=s.history; const rates=[];
    for(let i=1;i<h.length;i++){rates.push((h[i].evaluations-h[i-1].evaluations)/Math.max(1e-3,h[i].t-h[i-1].t))}
    document.getElementById("sub").textContent="host "+s.host+" · "+s.url+" · up "+s.uptime_seconds.toFixed(0)+" s · base "+s.base_checksum;
    document.getElementById("live").textContent=s.sessions.live;
    document.getElementById("stored").textContent=s.sessions.stored;
    document.getElementById("rate").textContent=rates.length?rates[rates.length-1].toFixed(0):"0";
    document.getElementById("evals").textContent=s.evaluations;
    document.getElementById("p99").textContent=s.eval_p99_seconds==null?"–":(s.eval_p99_seconds*1000)+" ms";
    document.getElementById("mem").textContent=mb(s.private_bytes)+" / "+(s.rss_bytes==null?"?":mb(s.rss_bytes));
    draw("c-rate",rates,"#2a6");
    draw("c-live",h.map(x=>x.live),"#36c");
    draw("c-mem",h.map(x=>x.rss_bytes/1048576),"#c63");
    document.getElementById("err").textContent="";
    document.body.dataset.ready="1";
  }catch(e){document.getElementById("err").textContent="status unavailable: "+e}
}
poll(); setInterval(poll,1000);
</script></body></html>
"##;
