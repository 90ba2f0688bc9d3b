//! The dashboard's pages: server-rendered HTML that a small script keeps live from the
//! server-sent events (no polling, no framework, nothing fetched from elsewhere).

use std::fmt::Write;

use super::SessionView;
use crate::check::Status;
use crate::duration::clock_text as clock;
use crate::report::html::esc;
use crate::session::Status as SessionStatus;

const STYLE: &str = r#"
:root { --pass: #1a7f37; --fail: #cf222e; --error: #9a6700; --muted: #57606a; --line: #d0d7de; }
body { font: 15px/1.5 system-ui, sans-serif; color: #1f2328; max-width: 70rem; margin: 1.5rem auto; padding: 0 1rem; }
h1 { font-size: 1.4rem; margin: 0; } h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
header { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; margin-bottom: 1rem; }
.muted, .meta { color: var(--muted); font-size: .85rem; }
#conn[data-state=live] { color: var(--pass); } #conn[data-state=down] { color: var(--fail); }
.card { border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1rem; margin: .8rem 0; }
.card h2 { margin: 0; font-size: 1.05rem; display: flex; gap: .6rem; flex-wrap: wrap; align-items: baseline; }
.facts { display: flex; gap: 1.2rem; flex-wrap: wrap; margin: .3rem 0 .6rem; }
.facts b { font-variant-numeric: tabular-nums; }
.over { color: var(--fail); font-weight: 700; }
ul.checks { list-style: none; padding: 0; margin: 0; }
ul.checks li { display: grid; grid-template-columns: 4.2rem 1fr; gap: .5rem; padding: .25rem 0; border-top: 1px solid #eaeef2; }
.st { font-size: .75rem; font-weight: 700; text-transform: uppercase; border: 1px solid currentColor;
  border-radius: 1rem; text-align: center; height: 1.3rem; }
li[data-status=pass] .st { color: var(--pass); } li[data-status=fail] .st { color: var(--fail); }
li[data-status=error] .st { color: var(--error); } li[data-status=pending] .st { color: var(--muted); }
.sum { color: var(--muted); font-size: .85rem; display: block; }
.error { color: var(--error); }
.banner { background: #ddf4ff; border: 1px solid #54aeff; padding: .4rem .8rem; border-radius: 6px; }
form.note { display: grid; gap: .5rem; max-width: 40rem; }
form.note textarea { min-height: 4rem; font: inherit; }
form.note .row { display: flex; gap: .5rem; flex-wrap: wrap; }
a { color: #0969da; }
"#;

/// Keeps the page live: one EventSource, each event a session's whole state. The clock
/// ticks locally from the time it started.
pub const SCRIPT: &str = r#"(() => {
  const fmt = s => { s = Math.max(0, Math.floor(s)); return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's'; };
  function tick() {
    const now = Date.now() / 1000;
    for (const el of document.querySelectorAll('[data-clock]')) {
      const start = Number(el.dataset.readyAt);
      if (!start) continue;
      const end = el.dataset.stoppedAt ? Number(el.dataset.stoppedAt) : now;
      const limit = Number(el.dataset.limit);
      el.textContent = fmt(end - start) + ' of ' + fmt(limit);
      el.classList.toggle('over', end - start > limit);
    }
  }
  function set(root, field, text) {
    for (const el of root.querySelectorAll('[data-field="' + field + '"]')) el.textContent = text;
  }
  function render(v) {
    const roots = document.querySelectorAll('[data-session]');
    let found = false;
    for (const root of roots) {
      if (root.dataset.session !== v.session) continue;
      found = true;
      root.dataset.state = v.status;
      set(root, 'status', v.status);
      set(root, 'score', v.score == null ? '—' : v.score + ' / ' + v['max-score']);
      set(root, 'hints', v.hints + ' (−' + v['hint-cost'] + ')');
      set(root, 'error', v.error || '');
      set(root, 'seen', v['seen-at'] ? 'last round ' + new Date(v['seen-at'] * 1000).toLocaleTimeString() : 'waiting for the first round');
      for (const el of root.querySelectorAll('[data-clock]')) {
        if (v['stopped-at']) el.dataset.stoppedAt = v['stopped-at'];
      }
      const list = root.querySelector('ul.checks');
      if (list && v.checks.length) {
        const items = v.checks.map(c => {
          const li = document.createElement('li');
          li.dataset.check = c.id;
          li.dataset.status = c.status;
          const st = document.createElement('span');
          st.className = 'st';
          st.textContent = c.status;
          const body = document.createElement('span');
          const title = document.createElement('span');
          title.textContent = c.title + (c.guard ? ' (guard)' : '');
          const sum = document.createElement('span');
          sum.className = 'sum';
          let when = '';
          if (c['first-passed-secs'] != null) when = ' · first passed ' + fmt(c['first-passed-secs']) + (c['broke-again'] ? ', broke again' : '');
          sum.textContent = c.summary + when;
          body.append(title, sum);
          li.append(st, body);
          return li;
        });
        list.replaceChildren(...items);
      }
    }
    if (!found && document.body.dataset.page === 'index') {
      const b = document.getElementById('news');
      b.hidden = false;
      b.textContent = 'A new session started (' + v.session + '): reload to see it.';
    }
  }
  const conn = document.getElementById('conn');
  const es = new EventSource('/events');
  es.addEventListener('open', () => { conn.dataset.state = 'live'; conn.textContent = 'live'; });
  es.addEventListener('error', () => { conn.dataset.state = 'down'; conn.textContent = 'reconnecting…'; });
  es.addEventListener('session', ev => render(JSON.parse(ev.data)));
  tick();
  setInterval(tick, 1000);
})();
"#;

fn head(o: &mut String, title: &str, page: &str) -> std::fmt::Result {
    write!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title><style>{STYLE}</style></head><body data-page=\"{page}\">\n\
         <header><h1><a href=\"/\">breakfix</a></h1><span id=\"conn\" class=\"muted\" data-state=\"connecting\">connecting…</span></header>\n",
        esc(title)
    )?;
    Ok(())
}

fn tail(o: &mut String) -> std::fmt::Result {
    o.push_str("<script src=\"/app.js\"></script>\n</body></html>\n");
    Ok(())
}

fn checks(o: &mut String, v: &SessionView) -> std::fmt::Result {
    writeln!(o, "<ul class=\"checks\">")?;
    if v.checks.is_empty() {
        writeln!(
            o,
            "<li data-status=\"pending\"><span class=\"st\">…</span><span>{}</span></li>",
            if v.status == SessionStatus::Ready {
                "waiting for the first round"
            } else {
                "not live: see the report"
            }
        )?;
    }
    for c in &v.checks {
        let when = match (c.first_passed_secs, c.broke_again) {
            (Some(s), true) => format!(" · first passed {}, broke again", clock(s)),
            (Some(s), false) => format!(" · first passed {}", clock(s)),
            (None, _) => String::new(),
        };
        writeln!(
            o,
            "<li data-check=\"{}\" data-status=\"{}\"><span class=\"st\">{}</span><span><span>{}{}</span><span class=\"sum\">{}{}</span></span></li>",
            esc(&c.id),
            c.status,
            c.status,
            esc(&c.title),
            if c.guard { " (guard)" } else { "" },
            esc(&c.summary),
            when
        )?;
    }
    writeln!(o, "</ul>")?;
    for id in &v.skipped {
        writeln!(
            o,
            "<p class=\"meta\"><code>{}</code> runs only in <code>breakfix grade</code> (it changes the sandbox or runs a pipeline).</p>",
            esc(id)
        )?;
    }
    Ok(())
}

fn card(o: &mut String, v: &SessionView, link: bool) -> std::fmt::Result {
    let who = v.candidate.as_deref().unwrap_or("(no candidate name)");
    writeln!(
        o,
        "<section class=\"card\" data-session=\"{}\" data-state=\"{}\">",
        esc(&v.session),
        v.status
    )?;
    let name = if link {
        format!("<a href=\"/s/{0}\">{1}</a>", esc(&v.session), esc(who))
    } else {
        esc(who)
    };
    writeln!(
        o,
        "<h2>{name} <span class=\"muted\">{} · <code>{}</code> · <span data-field=\"status\">{}</span></span></h2>",
        esc(if v.title.is_empty() {
            &v.scenario
        } else {
            &v.title
        }),
        esc(&v.session),
        v.status
    )?;
    let elapsed = match (v.ready_at, v.stopped_at) {
        (Some(a), Some(b)) => clock((b - a).max(0) as u64),
        _ => "—".into(),
    };
    writeln!(
        o,
        "<div class=\"facts\"><span>clock <b data-clock data-ready-at=\"{}\" data-stopped-at=\"{}\" data-limit=\"{}\">{elapsed} of {}</b></span>\
         <span>score now <b data-field=\"score\">{}</b></span><span>hints <b data-field=\"hints\">{} (−{})</b></span>\
         <span class=\"meta\" data-field=\"seen\"></span> <a href=\"/s/{}/report\">report</a></div>",
        v.ready_at.map(|t| t.to_string()).unwrap_or_default(),
        v.stopped_at.map(|t| t.to_string()).unwrap_or_default(),
        v.time_limit_secs,
        clock(v.time_limit_secs),
        match (v.score, v.max_score) {
            (Some(s), Some(m)) => format!("{s} / {m}"),
            _ => "—".into(),
        },
        v.hints,
        v.hint_cost,
        esc(&v.session)
    )?;
    writeln!(
        o,
        "<p class=\"error\" data-field=\"error\">{}</p>",
        esc(v.error.as_deref().unwrap_or(""))
    )?;
    checks(o, v)?;
    writeln!(o, "</section>")?;
    Ok(())
}

pub fn index(views: &[SessionView]) -> String {
    crate::report::to_string(|o| write_index(o, views))
}

fn write_index(o: &mut String, views: &[SessionView]) -> std::fmt::Result {
    head(o, "breakfix — sessions", "index")?;
    writeln!(o, "<p id=\"news\" class=\"banner\" hidden></p>")?;
    let (live, rest): (Vec<&SessionView>, Vec<&SessionView>) = views
        .iter()
        .partition(|v| matches!(v.status, SessionStatus::Ready | SessionStatus::Provisioning));
    writeln!(o, "<h2>Live sessions</h2>")?;
    if live.is_empty() {
        writeln!(
            o,
            "<p class=\"muted\">None. <code>breakfix start &lt;scenario&gt;</code> starts one; it shows here within seconds.</p>"
        )?;
    }
    for v in live {
        card(o, v, true)?;
    }
    if !rest.is_empty() {
        writeln!(o, "<h2>Earlier sessions</h2><ul>")?;
        for v in rest {
            writeln!(
                o,
                "<li><a href=\"/s/{0}\">{1}</a> · {2} · <code>{0}</code> · {3} · <a href=\"/s/{0}/report\">report</a></li>",
                esc(&v.session),
                esc(v.candidate.as_deref().unwrap_or("(no candidate name)")),
                esc(&v.scenario),
                v.status
            )?;
        }
        writeln!(o, "</ul>")?;
    }
    tail(o)?;
    Ok(())
}

/// A session's page; `terminal` is `Some(candidate link)` when it has a workstation to mirror.
pub fn session(v: &SessionView, form_key: &str, terminal: Option<Option<&str>>) -> String {
    crate::report::to_string(|o| write_session(o, v, form_key, terminal))
}

fn write_session(
    o: &mut String,
    v: &SessionView,
    form_key: &str,
    terminal: Option<Option<&str>>,
) -> std::fmt::Result {
    head(o, &format!("breakfix — {}", v.session), "session")?;
    card(o, v, false)?;
    if let Some(link) = terminal {
        mirror(o, &v.session, link)?;
    }
    writeln!(o, "<h2>Interviewer's notes</h2><ul>")?;
    if v.notes.is_empty() {
        writeln!(o, "<li class=\"muted\">None yet.</li>")?;
    }
    for n in &v.notes {
        let tag = crate::timeline::note_tag(n.competency, n.mark);
        let when =
            n.at.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
        writeln!(
            o,
            "<li><span class=\"meta\">{} {}</span> {}</li>",
            esc(&when),
            esc(&tag),
            esc(&n.text)
        )?;
    }
    writeln!(o, "</ul>")?;
    let options = |all: &[&str]| -> String {
        all.iter()
            .map(|c| format!("<option value=\"{c}\">{c}</option>"))
            .collect()
    };
    writeln!(
        o,
        "<form class=\"note\" method=\"post\" action=\"/s/{}/notes\"><input type=\"hidden\" name=\"key\" value=\"{}\">\
         <textarea name=\"text\" required placeholder=\"What did you see? (It goes into the report, labelled as yours.)\"></textarea>\
         <div class=\"row\"><select name=\"competency\"><option value=\"\">competency (optional)</option>{}</select>\
         <select name=\"mark\"><option value=\"\">mark (optional)</option>{}</select><button type=\"submit\">Add note</button></div></form>",
        esc(&v.session),
        esc(form_key),
        options(&[
            "ci-cd",
            "containers",
            "observability",
            "incident-response",
            "infrastructure-as-code",
            "security"
        ]),
        options(&["strong", "meets", "weak"])
    )?;
    writeln!(
        o,
        "<p class=\"meta\">Checks are tried once per round here; <code>breakfix grade</code> gives each its settling time and is the score of record. {}</p>",
        if v.checks.iter().any(|c| c.status == Status::Error) {
            "A check that could not run is not a candidate failure."
        } else {
            ""
        }
    )?;
    tail(o)?;
    Ok(())
}

/// The styles of a page with the terminal.
const TERMINAL_STYLE: &str = r#"
.terminal { background: #000; padding: 4px; border-radius: 6px; min-height: 20rem; overflow: hidden; display: inline-block; max-width: 100%; }
.terminal-bar { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; }
"#;

fn terminal_scripts(o: &mut String) -> std::fmt::Result {
    writeln!(
        o,
        "<link rel=\"stylesheet\" href=\"/xterm.css\"><script src=\"/xterm.js\"></script><script src=\"/terminal.js\"></script>"
    )
}

/// The candidate's page: the briefing beside the workstation's terminal.
pub fn candidate(title: &str, session: &str, briefing: &str, socket: &str) -> String {
    crate::report::to_string(|o| {
        write!(
            o,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{t}</title><style>{STYLE}{TERMINAL_STYLE}\
             body {{ max-width: none; display: grid; grid-template-columns: minmax(18rem, 32rem) 1fr; gap: 1rem; height: 95vh; }}\
             .briefing {{ overflow: auto; }} .briefing pre {{ white-space: pre-wrap; font: inherit; }}\
             .terminal {{ display: block; height: calc(95vh - 3rem); }}</style></head><body data-page=\"candidate\">\n\
             <section class=\"briefing\"><h1>{t}</h1><p class=\"meta\">session {sid}</p><pre>{b}</pre></section>\n\
             <section><div class=\"terminal-bar\"><h2>Your workstation</h2>\
             <span id=\"terminal-state\" class=\"meta\">connecting…</span></div>\
             <div id=\"terminal\" class=\"terminal\" data-seat=\"candidate\" data-socket=\"{sock}\"></div>\
             <p class=\"meta\">Everything typed and shown here is recorded for the interviewers.</p></section>\n",
            t = esc(title),
            sid = esc(session),
            b = esc(briefing),
            sock = esc(socket),
        )?;
        terminal_scripts(o)?;
        o.push_str("</body></html>\n");
        Ok(())
    })
}

/// The interviewer's mirror of the candidate's terminal, on the session page.
fn mirror(o: &mut String, session: &str, link: Option<&str>) -> std::fmt::Result {
    writeln!(o, "<style>{TERMINAL_STYLE}</style>")?;
    writeln!(
        o,
        "<h2>Candidate's terminal</h2><div class=\"terminal-bar\"><button id=\"take-keyboard\" type=\"button\">Take the keyboard</button>\
         <span id=\"terminal-state\" class=\"meta\">connecting…</span></div>\
         <div id=\"terminal\" class=\"terminal\" data-seat=\"interviewer\" data-socket=\"/s/{}/tty\"></div>",
        esc(session)
    )?;
    match link {
        Some(l) => writeln!(
            o,
            "<p class=\"meta\">The candidate's link (theirs alone, open until the time limit plus 15 minutes): <a id=\"candidate-link\" href=\"{l}\">{l}</a>. Taking the keyboard is recorded in the timeline.</p>",
            l = esc(l)
        )?,
        None => writeln!(
            o,
            "<p class=\"meta\">This session has no candidate link.</p>"
        )?,
    }
    terminal_scripts(o)
}

pub fn message(text: &str) -> String {
    crate::report::to_string(|o| write_message(o, text))
}

fn write_message(o: &mut String, text: &str) -> std::fmt::Result {
    head(o, "breakfix", "message")?;
    writeln!(
        o,
        "<p>{}</p><p><a href=\"/\">All sessions</a></p>",
        esc(text)
    )?;
    tail(o)?;
    Ok(())
}
