//! One self-contained HTML file: styles inline, no script, no font or image fetched, so it
//! opens offline, can be attached to a hiring ticket, and prints on paper as it shows.

use std::fmt::Write;

use crate::check::Status;
use crate::duration::clock_text as clock;
use crate::grade::{CheckResult, Report, Scope};

const STYLE: &str = r#"
:root { --pass: #1a7f37; --fail: #cf222e; --error: #9a6700; --muted: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
  max-width: 62rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .2rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .6rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
.sub { color: var(--muted); margin: 0 0 1rem; }
.facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(10rem, 1fr)); gap: .6rem; }
.fact { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .7rem; }
.fact b { display: block; font-size: 1.25rem; }
.fact span { color: var(--muted); font-size: .85rem; }
.banner { border: 1px solid var(--error); background: #fff8c5; padding: .5rem .8rem; border-radius: 6px; margin: 1rem 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem; border-bottom: 1px solid var(--line); }
th { font-size: .85rem; color: var(--muted); font-weight: 600; }
.badge { display: inline-block; font-size: .75rem; font-weight: 700; padding: 0 .45rem; border-radius: 1rem;
  border: 1px solid currentColor; text-transform: uppercase; white-space: nowrap; }
.pass { color: var(--pass); } .fail { color: var(--fail); } .error { color: var(--error); }
.strong { color: var(--pass); } .meets { color: #0969da; } .weak { color: var(--fail); }
.bar { height: .5rem; background: #eaeef2; border-radius: .25rem; overflow: hidden; min-width: 8rem; }
.bar i { display: block; height: 100%; background: var(--pass); }
.check { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; margin: .6rem 0; break-inside: avoid; }
.check h3 { font-size: 1rem; margin: 0; display: flex; gap: .5rem; align-items: baseline; flex-wrap: wrap; }
.check .pts { margin-left: auto; color: var(--muted); font-weight: 400; }
.check p { margin: .3rem 0; }
.meta { color: var(--muted); font-size: .85rem; }
pre .add { color: var(--pass); } pre .del { color: var(--fail); }
pre { background: #f6f8fa; border-radius: 6px; padding: .5rem .7rem; font-size: .8rem; white-space: pre-wrap;
  word-break: break-word; max-height: 18rem; overflow: auto; margin: .4rem 0 0; }
ul { padding-left: 1.2rem; } li { margin: .2rem 0; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 1.5rem; }
.kind { font-family: ui-monospace, monospace; font-size: .8rem; white-space: nowrap; }
tr.command td { font-family: ui-monospace, monospace; font-size: .85rem; }
tr.note td { background: #fff8c5; }
code { font-family: ui-monospace, monospace; font-size: .85em; }
footer { margin-top: 2.5rem; color: var(--muted); font-size: .8rem; }
@media (max-width: 40rem) { .cols { grid-template-columns: 1fr; } }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  pre { max-height: none; overflow: visible; }
  h2 { break-after: avoid; }
  tr, .fact { break-inside: avoid; }
  .badge, .bar i, tr.note td, .banner { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn badge(status: Status) -> String {
    format!(r#"<span class="badge {status}">{status}</span>"#)
}

fn at(secs: Option<u64>) -> String {
    secs.map_or("—".into(), clock)
}

fn points(c: &CheckResult) -> String {
    if c.guard {
        if c.awarded < 0 {
            format!("−{} (guard broken)", c.points)
        } else {
            format!("guard (−{} if broken)", c.points)
        }
    } else {
        format!("{} / {}", c.awarded.max(0), c.points)
    }
}

fn list(o: &mut String, title: &str, items: &[String]) -> std::fmt::Result {
    writeln!(o, "<div><h2>{}</h2><ul>", esc(title))?;
    if items.is_empty() {
        writeln!(o, "<li class=\"meta\">none</li>")?;
    }
    for i in items {
        writeln!(o, "<li>{}</li>", esc(i))?;
    }
    writeln!(o, "</ul></div>")?;
    Ok(())
}

pub fn render(r: &Report) -> String {
    render_with(r, &Extras::default())
}

/// What a report page carries besides the report: the session's terminal recordings, and
/// xterm.js to replay them in the page (no network needed).
#[derive(Default)]
pub struct Extras<'a> {
    pub replays: &'a [crate::recording::Replay],
    /// xterm.js and its style sheet; without them the recordings are only listed.
    pub xterm: Option<(&'a str, &'a str)>,
}

pub fn render_with(r: &Report, extras: &Extras) -> String {
    crate::report::to_string(|o| write_report(o, r, extras))
}

/// Replays a recording in the page: its output at its pace (idle stretches shortened to
/// two seconds), with play, pause and speed.
const PLAYER: &str = r#"(() => {
  if (!window.Terminal) return;
  const fmt = s => Math.floor(s / 60) + 'm' + String(Math.floor(s % 60)).padStart(2, '0') + 's';
  for (const box of document.querySelectorAll('[data-cast]')) {
    const lines = JSON.parse(document.getElementById(box.dataset.cast).textContent).split('\n');
    const head = JSON.parse(lines[0] || '{}');
    const events = lines.slice(1).map(l => { try { return JSON.parse(l); } catch (e) { return null; } })
      .filter(e => e && (e[1] === 'o' || e[1] === 'r'));
    const term = new Terminal({ cols: head.width || 80, rows: head.height || 24, rendererType: 'dom', disableStdin: true });
    term.open(box.querySelector('.screen'));
    const play = box.querySelector('.play'), pos = box.querySelector('.pos'), speed = box.querySelector('.speed');
    const total = events.length ? events[events.length - 1][0] : 0;
    let i = 0, timer = null;
    pos.textContent = fmt(0) + ' / ' + fmt(total);
    function step() {
      if (i >= events.length) { timer = null; play.textContent = 'Play again'; return; }
      const e = events[i++];
      if (e[1] === 'o') term.write(e[2]);
      else { const m = /^(\d+)x(\d+)$/.exec(e[2]); if (m) term.resize(+m[1], +m[2]); }
      pos.textContent = fmt(e[0]) + ' / ' + fmt(total);
      const next = events[i];
      timer = setTimeout(step, next ? Math.min(next[0] - e[0], 2) * 1000 / Number(speed.value) : 0);
    }
    play.addEventListener('click', () => {
      if (timer) { clearTimeout(timer); timer = null; play.textContent = 'Play'; return; }
      if (i >= events.length) { term.reset(); i = 0; }
      play.textContent = 'Pause';
      step();
    });
  }
})();"#;

/// Text for inside a `<script>` element: it cannot end the element early.
fn in_script(text: &str) -> String {
    text.replace("</script", "<\\/script")
        .replace("</SCRIPT", "<\\/SCRIPT")
}

fn recordings(o: &mut String, extras: &Extras) -> std::fmt::Result {
    if extras.replays.is_empty() {
        return Ok(());
    }
    writeln!(o, "<h2>Terminal recordings</h2>")?;
    if extras.xterm.is_none() {
        writeln!(
            o,
            "<p class=\"meta\">In the session's folder; <code>asciinema play</code> plays them (this page replays them where Debian's <code>node-xterm</code> is installed).</p>"
        )?;
    }
    writeln!(o, "<ul class=\"recordings\">")?;
    for (n, rec) in extras.replays.iter().enumerate() {
        match (&extras.xterm, rec.cast.is_empty()) {
            (Some(_), false) => {
                writeln!(
                    o,
                    "<li><details data-cast=\"cast-{n}\"><summary>{}</summary>\
                     <div class=\"player\"><button type=\"button\" class=\"play\">Play</button> \
                     <select class=\"speed\"><option value=\"1\">1×</option><option value=\"2\">2×</option><option value=\"8\">8×</option></select> \
                     <span class=\"pos meta\"></span></div><div class=\"screen\"></div></details>\
                     <script type=\"application/json\" id=\"cast-{n}\">{}</script></li>",
                    esc(&rec.name),
                    serde_json::to_string(&rec.cast)
                        .unwrap_or_default()
                        .replace("</", "<\\/")
                )?;
            }
            (Some(_), true) => writeln!(
                o,
                "<li>{} <span class=\"meta\">({} bytes: too large to embed; play it with asciinema)</span></li>",
                esc(&rec.name),
                rec.bytes
            )?,
            (None, _) => writeln!(o, "<li>{}</li>", esc(&rec.name))?,
        }
    }
    writeln!(o, "</ul>")?;
    if let Some((script, style)) = extras.xterm {
        writeln!(
            o,
            "<style>{}\n.screen {{ background: #000; padding: 4px; display: inline-block; }}</style>\n<script>{}</script>\n<script>{}</script>",
            style.replace("</", "<\\/"),
            in_script(script),
            PLAYER
        )?;
    }
    Ok(())
}

fn write_report(o: &mut String, r: &Report, extras: &Extras) -> std::fmt::Result {
    let who = super::candidate(r);
    write!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} — {} · breakfix report</title>\n<style>{STYLE}</style></head><body>\n",
        esc(who),
        esc(&r.scenario.id)
    )?;
    writeln!(
        o,
        "<header><h1>{}</h1><p class=\"sub\">{} · scenario <code>{}</code> · session <code>{}</code> · graded {}</p></header>",
        esc(&r.scenario.title),
        esc(who),
        esc(&r.scenario.id),
        esc(&r.session.id),
        r.session
            .graded_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    )?;
    if r.scope == Scope::All
        && let Some(v) = &r.scenario.variant
    {
        writeln!(
            o,
            "<p class=\"sub\">variant: seed <code>{}</code> ({})</p>",
            esc(&v.seed),
            esc(&v.describe())
        )?;
    }
    writeln!(o, "<section class=\"facts\">")?;
    if r.scope == Scope::All {
        writeln!(
            o,
            "<div class=\"fact\"><b>{} / {}</b><span>score ({}%)</span></div>",
            r.score, r.max_score, r.percent
        )?;
    }
    let passed = r.checks.iter().filter(|c| c.status == Status::Pass).count();
    writeln!(
        o,
        "<div class=\"fact\"><b>{passed} of {}</b><span>checks pass</span></div>",
        r.checks.len()
    )?;
    writeln!(
        o,
        "<div class=\"fact\"><b>{}</b><span>of {} on the clock{}</span></div>",
        clock(r.session.elapsed_secs),
        clock(r.session.time_limit_secs),
        if r.session.over_time {
            ", over time"
        } else {
            ""
        }
    )?;
    writeln!(
        o,
        "<div class=\"fact\"><b>{}</b><span>hints taken (−{})</span></div>",
        r.hints.len(),
        r.hint_cost
    )?;
    if r.scope == Scope::All {
        writeln!(
            o,
            "<div class=\"fact\"><b>{}</b><span>time to fix (every check passing)</span></div>",
            at(r.milestones.all_passed_secs)
        )?;
    }
    writeln!(o, "</section>")?;
    if !r.complete {
        writeln!(
            o,
            "<p class=\"banner\">{} check(s) could not run: the score is a lower bound, not a verdict. Grade again once the backend answers.</p>",
            r.errors()
        )?;
    }
    if r.scope == Scope::All {
        scorecard(o, r)?;
        milestones(o, r)?;
        process_signals(o, r)?;
    }
    submission(o, r)?;
    writeln!(o, "<h2>Checks</h2>")?;
    for c in &r.checks {
        check(o, c)?;
    }
    if r.scope == Scope::All {
        writeln!(o, "<div class=\"cols\">")?;
        list(o, "Strong signals to look for", &r.strong_signals)?;
        list(o, "Red flags", &r.red_flags)?;
        writeln!(o, "</div>")?;
    }
    hints(o, r)?;
    if r.scope == Scope::All {
        signals(o, r)?;
        timeline(o, r)?;
        recordings(o, extras)?;
        notes(o, r)?;
        writeln!(o, "<h2>Follow-up questions for the debrief</h2><ol>")?;
        for q in &r.follow_ups {
            writeln!(o, "<li>{}</li>", esc(q))?;
        }
        writeln!(o, "</ol>")?;
    }
    writeln!(
        o,
        "<footer>breakfix report, format version {}. Checks observe the sandbox from outside the candidate's reach; evidence is what they saw.</footer>\n</body></html>",
        r.format_version
    )?;
    Ok(())
}

fn submission(o: &mut String, r: &Report) -> std::fmt::Result {
    let Some(sub) = &r.submission else {
        return Ok(());
    };
    writeln!(o, "<h2>The submission against the workspace as issued</h2>")?;
    writeln!(
        o,
        "<p>{} ({}){} · {} file(s) differ.</p>",
        esc(&sub.source),
        sub.kind,
        super::take_home_text(sub, |t| format!("<code>{}</code>", esc(t)), esc),
        sub.changes.len()
    )?;
    for c in &sub.changes {
        writeln!(
            o,
            "<details open><summary><code>{}</code> {}</summary>",
            esc(&c.path),
            format!("{:?}", c.change).to_lowercase()
        )?;
        if let Some(d) = &c.diff {
            writeln!(o, "<pre>")?;
            for line in d.lines() {
                let class = match line.chars().next() {
                    Some('+') if !line.starts_with("+++") => " class=\"add\"",
                    Some('-') if !line.starts_with("---") => " class=\"del\"",
                    _ => "",
                };
                writeln!(o, "<span{class}>{}</span>", esc(line))?;
            }
            writeln!(o, "</pre>")?;
        }
        writeln!(o, "</details>")?;
    }
    Ok(())
}

fn scorecard(o: &mut String, r: &Report) -> std::fmt::Result {
    writeln!(
        o,
        "<h2>Scorecard</h2><table><thead><tr><th>Competency</th><th>Points</th><th></th><th>Interviewer's marks</th></tr></thead><tbody>"
    )?;
    for c in &r.competencies {
        let share = if c.max > 0 {
            (c.awarded.max(0) as f64 * 100.0 / c.max as f64).round() as u32
        } else {
            0
        };
        let marks: Vec<String> = c
            .marks
            .iter()
            .map(|m| format!("<span class=\"badge {m}\">{m}</span>"))
            .collect();
        writeln!(
            o,
            "<tr><td>{}</td><td>{} / {}</td><td><div class=\"bar\"><i style=\"width:{share}%\"></i></div></td><td>{}</td></tr>",
            c.competency,
            c.awarded,
            c.max,
            if marks.is_empty() {
                "—".into()
            } else {
                marks.join(" ")
            }
        )?;
    }
    writeln!(o, "</tbody></table>")?;
    if r.penalties > 0 {
        writeln!(
            o,
            "<p class=\"meta\">Guard penalties: −{} (a fix that broke something else).</p>",
            r.penalties
        )?;
    }
    Ok(())
}

fn milestones(o: &mut String, r: &Report) -> std::fmt::Result {
    let m = &r.milestones;
    writeln!(o, "<h2>Milestones</h2><section class=\"facts\">")?;
    for (secs, what) in [
        (m.first_command_secs, "first command in the sandbox"),
        (m.first_change_secs, "first change to the workspace"),
        (m.first_apply_secs, "first apply"),
        (m.first_pass_secs, "first scored check passing"),
        (m.all_passed_secs, "every check passing"),
    ] {
        writeln!(
            o,
            "<div class=\"fact\"><b>{}</b><span>{what}</span></div>",
            at(secs)
        )?;
    }
    writeln!(
        o,
        "</section><p class=\"meta\">Times are on the session clock, which started when the broken sandbox was ready. Checks are seen passing when a round runs them: <code>breakfix watch</code>, the dashboard, <code>check</code> or <code>grade</code>.</p>"
    )?;
    Ok(())
}

fn check(o: &mut String, c: &CheckResult) -> std::fmt::Result {
    writeln!(
        o,
        "<article class=\"check\" id=\"check-{}\"><h3>{} {} <code>{}</code><span class=\"pts\">{}</span></h3>",
        esc(&c.id),
        badge(c.status),
        esc(&c.title),
        esc(&c.id),
        esc(&points(c))
    )?;
    let mut meta = vec![
        c.competency.to_string(),
        c.kind.clone(),
        format!("{:?}", c.visibility).to_lowercase(),
        format!("ran {:.1}s", c.duration_ms as f64 / 1000.0),
    ];
    if let Some(s) = c.first_passed_secs {
        meta.push(format!("first passed at {}", clock(s)));
    }
    if c.broke_again {
        meta.push("broke again after passing".into());
    }
    writeln!(
        o,
        "<p>{}</p><p class=\"meta\">{}</p>",
        esc(&c.summary),
        esc(&meta.join(" · "))
    )?;
    if !c.evidence.is_empty() {
        writeln!(o, "<pre>{}</pre>", esc(&c.evidence.join("\n")))?;
    }
    writeln!(o, "</article>")?;
    Ok(())
}

fn hints(o: &mut String, r: &Report) -> std::fmt::Result {
    writeln!(o, "<h2>Hints</h2>")?;
    if r.hints.is_empty() {
        writeln!(o, "<p class=\"meta\">No hints taken.</p>")?;
        return Ok(());
    }
    writeln!(
        o,
        "<table><thead><tr><th>#</th><th>At</th><th>Cost</th><th>Hint</th></tr></thead><tbody>"
    )?;
    for h in &r.hints {
        writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>−{}</td><td>{}</td></tr>",
            h.number,
            clock(h.after_secs),
            h.cost,
            esc(&h.text)
        )?;
    }
    writeln!(o, "</tbody></table>")?;
    Ok(())
}

fn process_signals(o: &mut String, r: &Report) -> std::fmt::Result {
    if r.process_signals.is_empty() {
        return Ok(());
    }
    writeln!(
        o,
        "<h2>How they worked</h2><p class=\"meta\">The scenario's process signals, as the record shows them; read them beside your marks.</p><ul>"
    )?;
    for p in &r.process_signals {
        let how = match (&p.by, p.at_secs) {
            (Some(by), Some(at)) => format!("seen at {}: <code>{}</code>", clock(at), esc(by)),
            _ => "not seen".into(),
        };
        writeln!(
            o,
            "<li class=\"{}\">{} <span class=\"meta\">{how}</span></li>",
            if p.seen { "pass" } else { "fail" },
            esc(&p.title)
        )?;
    }
    writeln!(o, "</ul>")
}

fn signals(o: &mut String, r: &Report) -> std::fmt::Result {
    if r.signals.is_empty() {
        return Ok(());
    }
    writeln!(
        o,
        "<h2>Signals from the browser terminal</h2><p class=\"meta\">How input arrived and who held the keyboard: things to ask about, not verdicts (a paste may be a command from the documentation).</p><ul>"
    )?;
    for e in &r.signals {
        writeln!(
            o,
            "<li class=\"{}\"><span class=\"meta\">{}</span> {}</li>",
            esc(e.kind.as_str()),
            clock(e.after_secs),
            esc(&e.detail)
        )?;
    }
    writeln!(o, "</ul>")
}

fn timeline(o: &mut String, r: &Report) -> std::fmt::Result {
    writeln!(o, "<h2>Timeline</h2>")?;
    if r.timeline.is_empty() {
        writeln!(o, "<p class=\"meta\">Nothing recorded.</p>")?;
        return Ok(());
    }
    writeln!(
        o,
        "<table><thead><tr><th>Clock</th><th>What</th><th>Detail</th></tr></thead><tbody>"
    )?;
    for e in &r.timeline {
        writeln!(
            o,
            "<tr class=\"{}\"><td>{}</td><td class=\"kind\">{}</td><td>{}</td></tr>",
            esc(e.kind.as_str()),
            clock(e.after_secs),
            esc(e.kind.as_str()),
            esc(&e.detail)
        )?;
    }
    writeln!(o, "</tbody></table>")?;
    if r.commands.is_empty() {
        writeln!(
            o,
            "<p class=\"meta\">No commands: they show here when the candidate works in <code>breakfix shell</code> or runs <code>breakfix exec</code>.</p>"
        )?;
    }
    Ok(())
}

fn notes(o: &mut String, r: &Report) -> std::fmt::Result {
    writeln!(o, "<h2>Interviewer's notes</h2>")?;
    if r.notes.is_empty() {
        writeln!(
            o,
            "<p class=\"meta\">None yet (<code>breakfix note</code> adds one).</p>"
        )?;
        return Ok(());
    }
    writeln!(o, "<ul>")?;
    for n in &r.notes {
        let comp = n.competency.map_or(String::new(), |c| format!("{c} "));
        let mark = n.mark.map_or(String::new(), |m| {
            format!("<span class=\"badge {m}\">{m}</span> ")
        });
        writeln!(
            o,
            "<li><span class=\"meta\">{} {}</span>{mark}{}</li>",
            clock(n.after_secs),
            esc(&comp),
            esc(&n.text)
        )?;
    }
    writeln!(o, "</ul>")?;
    Ok(())
}
