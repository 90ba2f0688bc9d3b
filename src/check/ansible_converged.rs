//! `ansible-converged`: runs `ansible-playbook` in the control container and reads what it
//! reports per host (the PLAY RECAP), the tasks that changed or failed, and the diff lines.
//! Check mode on the live state comes first and never changes anything; the apply and the
//! hand edit only follow when the live state already matches the playbook.

use std::time::Duration;

use super::{Ctx, Outcome, clip};
use crate::backend::Result;
use crate::scenario::{AnsibleConvergedCheck, ExecAction};

/// Bytes of output kept from the end of a run: the recap is last, a long diff comes first.
const KEEP_TAIL: usize = 60_000;

/// One host's line of the PLAY RECAP.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostRecap {
    pub host: String,
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

impl std::fmt::Display for HostRecap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: ok={} changed={} unreachable={} failed={} skipped={} rescued={} ignored={}",
            self.host,
            self.ok,
            self.changed,
            self.unreachable,
            self.failed,
            self.skipped,
            self.rescued,
            self.ignored
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskResult {
    Changed,
    Failed,
    Unreachable,
}

/// A task (or handler) that changed or failed on a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskEvent {
    pub task: String,
    pub host: String,
    pub result: TaskResult,
    /// For failures: Ansible's message (`msg`), or the raw line.
    pub detail: String,
}

/// What one `ansible-playbook` run reported, as plain data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlaybookRun {
    pub recap: Vec<HostRecap>,
    pub events: Vec<TaskEvent>,
    /// `+`/`-` lines of `--diff` output, with the task they belong to.
    pub diff: Vec<String>,
    /// `ERROR!` lines: the playbook could not even start (syntax, missing file).
    pub errors: Vec<String>,
}

impl PlaybookRun {
    pub fn host(&self, name: &str) -> Option<&HostRecap> {
        self.recap.iter().find(|h| h.host == name)
    }
    pub fn changed(&self) -> u32 {
        self.recap.iter().map(|h| h.changed).sum()
    }
}

/// Reads the default callback's text output.
pub fn parse(output: &str) -> PlaybookRun {
    let mut run = PlaybookRun::default();
    let mut task = String::new();
    let mut in_recap = false;
    for line in output.lines() {
        let trimmed = line.trim_end();
        if let Some(rest) = trimmed
            .strip_prefix("TASK [")
            .or_else(|| trimmed.strip_prefix("RUNNING HANDLER ["))
        {
            task = rest
                .split("] ")
                .next()
                .unwrap_or(rest)
                .trim_end_matches(']')
                .to_string();
            in_recap = false;
            continue;
        }
        if trimmed.starts_with("PLAY RECAP") {
            in_recap = true;
            continue;
        }
        if trimmed.starts_with("PLAY [") {
            in_recap = false;
            continue;
        }
        if let Some(e) = trimmed.strip_prefix("ERROR! ") {
            run.errors.push(e.to_string());
            continue;
        }
        if in_recap {
            if let Some(h) = parse_recap_line(trimmed) {
                run.recap.push(h);
            }
            continue;
        }
        if let Some(ev) = parse_event(&task, trimmed) {
            run.events.push(ev);
            continue;
        }
        let is_diff = (trimmed.starts_with('+') && !trimmed.starts_with("+++ "))
            || (trimmed.starts_with('-') && !trimmed.starts_with("--- "));
        if is_diff && !task.is_empty() {
            run.diff.push(format!("{task}: {trimmed}"));
        }
    }
    run
}

fn parse_recap_line(line: &str) -> Option<HostRecap> {
    let (host, counts) = line.split_once(" : ")?;
    let mut h = HostRecap {
        host: host.trim().to_string(),
        ..HostRecap::default()
    };
    let mut seen = 0;
    for pair in counts.split_whitespace() {
        let (k, v) = pair.split_once('=')?;
        let v: u32 = v.parse().ok()?;
        seen += 1;
        match k {
            "ok" => h.ok = v,
            "changed" => h.changed = v,
            "unreachable" => h.unreachable = v,
            "failed" => h.failed = v,
            "skipped" => h.skipped = v,
            "rescued" => h.rescued = v,
            "ignored" => h.ignored = v,
            _ => seen -= 1,
        }
    }
    (seen > 0 && !h.host.is_empty()).then_some(h)
}

fn parse_event(task: &str, line: &str) -> Option<TaskEvent> {
    let (result, rest) = if let Some(r) = line.strip_prefix("changed: [") {
        (TaskResult::Changed, r)
    } else if let Some(r) = line.strip_prefix("fatal: [") {
        if r.contains("UNREACHABLE!") {
            (TaskResult::Unreachable, r)
        } else {
            (TaskResult::Failed, r)
        }
    } else if let Some(r) = line.strip_prefix("failed: [") {
        (TaskResult::Failed, r)
    } else {
        return None;
    };
    let (host, after) = rest.split_once(']')?;
    let detail = match result {
        TaskResult::Changed => String::new(),
        _ => message_of(after).unwrap_or_else(|| after.trim_start_matches(':').trim().to_string()),
    };
    Some(TaskEvent {
        task: task.to_string(),
        host: host.to_string(),
        result,
        detail,
    })
}

/// The `msg` of the JSON object after `=>`, when there is one.
fn message_of(after: &str) -> Option<String> {
    let json = after.split_once("=> ")?.1;
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v.get("msg")?.as_str().map(str::to_string)
}

/// What went wrong with a run for the hosts the check expects, or `None` when all is well.
fn problem(run: &PlaybookRun, hosts: &[String], want_unchanged: bool) -> Option<String> {
    if let Some(e) = run.errors.first() {
        return Some(format!("ansible-playbook could not run the playbook: {e}"));
    }
    let mut problems = vec![];
    for name in hosts {
        match run.host(name) {
            None => problems.push(format!("host `{name}` is not in the PLAY RECAP")),
            Some(h) if h.unreachable > 0 => problems.push(format!("`{name}` was unreachable")),
            Some(h) if h.failed > 0 => {
                problems.push(format!("{} task(s) failed on `{name}`", h.failed))
            }
            // A failure the playbook told Ansible to ignore is still a failure on the host.
            Some(h) if h.ignored > 0 => {
                problems.push(format!("{} failure(s) ignored on `{name}`", h.ignored))
            }
            Some(h) if want_unchanged && h.changed > 0 => {
                problems.push(format!("{} task(s) changed on `{name}`", h.changed))
            }
            Some(_) => {}
        }
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Evidence lines for one run.
fn describe(label: &str, cmd: &str, exit: Option<i64>, run: &PlaybookRun) -> Vec<String> {
    let mut out = vec![match exit {
        Some(c) => format!("{label}: `{cmd}` exited {c} (run in the control container)"),
        None => format!("{label}: `{cmd}` did not finish (run in the control container)"),
    }];
    out.extend(
        run.errors
            .iter()
            .map(|e| format!("{label}: ERROR! {}", clip(e, 300))),
    );
    out.extend(run.recap.iter().map(|h| format!("{label}: recap {h}")));
    for ev in &run.events {
        out.push(match ev.result {
            TaskResult::Changed => format!("{label}: changed `{}` on {}", ev.task, ev.host),
            TaskResult::Failed => format!(
                "{label}: FAILED `{}` on {}: {}",
                ev.task,
                ev.host,
                clip(&ev.detail, 300)
            ),
            TaskResult::Unreachable => format!(
                "{label}: UNREACHABLE `{}` on {}: {}",
                ev.task,
                ev.host,
                clip(&ev.detail, 300)
            ),
        });
    }
    out.extend(
        run.diff
            .iter()
            .take(12)
            .map(|d| format!("{label}: diff {}", clip(d, 200))),
    );
    if run.diff.len() > 12 {
        out.push(format!(
            "{label}: … {} more diff lines",
            run.diff.len() - 12
        ));
    }
    out
}

/// The command that runs the playbook with the grader's output settings (the candidate's
/// ansible.cfg cannot change the callback), keeping the end of the output where the recap is.
fn command(k: &AnsibleConvergedCheck, extra: &[&str]) -> Vec<String> {
    const SCRIPT: &str = "out=$(mktemp) || exit 125\n\
         ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_STDOUT_CALLBACK=default \
         ANSIBLE_RETRY_FILES_ENABLED=0 \"$@\" >\"$out\" 2>&1\n\
         rc=$?\ntail -c 60000 \"$out\"\nrm -f \"$out\"\nexit $rc";
    debug_assert!(SCRIPT.contains(&KEEP_TAIL.to_string()));
    let mut cmd: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        SCRIPT.into(),
        "ansible-converged".into(),
        "ansible-playbook".into(),
    ];
    cmd.extend(extra.iter().map(|s| s.to_string()));
    cmd.extend(k.args.iter().cloned());
    cmd.push(k.playbook.value.clone());
    cmd
}

fn shown(cmd: &[String]) -> String {
    cmd[4..].join(" ")
}

pub async fn run(k: &AnsibleConvergedCheck, cx: &Ctx<'_>) -> Result<Outcome> {
    let (backend, t) = (cx.backend, cx.target);
    let service = &k.service.value;
    let hosts: Vec<String> = k.hosts.iter().map(|h| h.value.clone()).collect();
    let state = backend.state(t, service).await?;
    if !state.running {
        return Ok(Outcome::fail(
            format!("cannot run the playbook: the control node `{service}` is not running"),
            vec![format!("engine state: {state}")],
        ));
    }
    let mut evidence = vec![];
    let playbook = |extra: &'static [&'static str]| {
        let cmd = command(k, extra);
        async move {
            let out = backend.exec(t, service, &cmd, k.timeout.0).await?;
            Result::Ok((shown(&cmd), out.exit_code, parse(&out.output)))
        }
    };

    // 1. The live state against the playbook, changing nothing.
    let (cmd, exit, live) = playbook(&["--check", "--diff"]).await?;
    evidence.extend(describe("check mode", &cmd, exit, &live));
    if exit.is_none() {
        return Ok(Outcome::fail(
            format!("the check-mode run did not finish within {}", k.timeout),
            evidence,
        ));
    }
    if let Some(p) = problem(&live, &hosts, true) {
        return Ok(Outcome::fail(
            if problem(&live, &hosts, false).is_some() {
                format!("the playbook does not run cleanly in check mode: {p}")
            } else {
                format!("the live hosts have drifted from the playbook (check mode): {p}")
            },
            evidence,
        ));
    }
    if !k.apply {
        return Ok(Outcome::pass(
            format!(
                "check mode reports nothing to change on {} (failed=0, unreachable=0, changed=0)",
                hosts.join(", ")
            ),
            evidence,
        ));
    }

    // 2. Optionally a hand edit, which check mode must notice; then apply and check again.
    let mut steps = vec![];
    let disturbed = match &k.disturb {
        Some(d) => Some(act(cx, d, "hand edit", &mut steps).await?),
        None => None,
    };
    let mut verdict = converge(k, &hosts, disturbed, &mut steps, playbook).await;
    if let (Ok(Ok(_)), Some(h)) = (&verdict, &k.expect_http) {
        match super::http::run(h, cx).await {
            Err(e) => verdict = Err(e),
            Ok(asked) => {
                let mark = steps.len();
                steps.extend(
                    asked
                        .evidence
                        .iter()
                        .map(|e| format!("after the apply, {e}")),
                );
                if asked.status == super::Status::Pass {
                    if let Ok(Ok(summary)) = &mut verdict {
                        summary.push_str(&format!("; then {}", asked.summary));
                    }
                } else {
                    verdict = Ok(spotlight(
                        &mut steps,
                        mark,
                        format!(
                            "the files converged but the service did not: after the apply, {}",
                            asked.summary
                        ),
                    ));
                }
            }
        }
    }
    if let (Some(_), Some(r)) = (&disturbed, &k.restore) {
        act(cx, r, "restore", &mut steps).await?;
    }
    Ok(match verdict? {
        Ok(summary) => {
            evidence.append(&mut steps);
            Outcome::pass(summary, evidence)
        }
        Err(summary) => {
            // Reports show the first lines of evidence: the steps after the clean check-mode
            // run, where the failure is, come first.
            steps.append(&mut evidence);
            Outcome::fail(summary, steps)
        }
    })
}

/// Steps after the first check-mode run; `Ok(Err(..))` is a failure the candidate owns.
async fn converge<F, Fut>(
    k: &AnsibleConvergedCheck,
    hosts: &[String],
    disturbed: Option<bool>,
    evidence: &mut Vec<String>,
    playbook: F,
) -> Result<std::result::Result<String, String>>
where
    F: Fn(&'static [&'static str]) -> Fut,
    Fut: std::future::Future<Output = Result<(String, Option<i64>, PlaybookRun)>>,
{
    if disturbed == Some(false) {
        return Ok(Err(
            "the hand edit could not be made on the managed host (see evidence)".into(),
        ));
    }
    if disturbed.is_some() {
        let (cmd, exit, seen) = playbook(&["--check", "--diff"]).await?;
        let mark = evidence.len();
        evidence.extend(describe(
            "after the hand edit, check mode",
            &cmd,
            exit,
            &seen,
        ));
        if let Some(p) = problem(&seen, hosts, false) {
            return Ok(spotlight(
                evidence,
                mark,
                format!("check mode failed after a hand edit: {p}"),
            ));
        }
        if seen.changed() == 0 {
            return Ok(spotlight(
                evidence,
                mark,
                "the playbook does not notice a hand edit of a file it should manage \
                 (check mode reports changed=0 after the edit)"
                    .into(),
            ));
        }
    }
    let (cmd, exit, applied) = playbook(&[]).await?;
    let mark = evidence.len();
    evidence.extend(describe("apply", &cmd, exit, &applied));
    if exit.is_none() {
        return Ok(spotlight(
            evidence,
            mark,
            format!("the apply did not finish within {}", k.timeout),
        ));
    }
    if let Some(p) = problem(&applied, hosts, false) {
        return Ok(spotlight(
            evidence,
            mark,
            format!("applying the playbook fails: {p}"),
        ));
    }
    let (cmd, exit, again) = playbook(&["--check", "--diff"]).await?;
    let mark = evidence.len();
    evidence.extend(describe("check mode after apply", &cmd, exit, &again));
    if let Some(p) = problem(&again, hosts, true) {
        return Ok(spotlight(
            evidence,
            mark,
            format!(
                "the playbook does not converge: after applying it, check mode still reports {p}"
            ),
        ));
    }
    Ok(Ok(if disturbed.is_some() {
        "check mode noticed a hand edit, the apply reverted it (failed=0, unreachable=0), \
         and check mode then reports changed=0"
            .into()
    } else {
        "the playbook applies (failed=0, unreachable=0) and a second check-mode run reports \
         changed=0"
            .into()
    }))
}

/// A failure whose run's evidence (from `mark` on) moves to the front: reports show the
/// first lines of evidence, and the run that failed is what the reader needs.
fn spotlight(
    evidence: &mut [String],
    mark: usize,
    summary: String,
) -> std::result::Result<String, String> {
    evidence.rotate_left(mark.min(evidence.len()));
    Err(summary)
}

/// Runs the grader's own action (a hand edit, its undo) on a managed host; `false` when it
/// did not exit 0.
async fn act(
    cx: &Ctx<'_>,
    a: &ExecAction,
    label: &str,
    evidence: &mut Vec<String>,
) -> Result<bool> {
    let out = cx
        .backend
        .exec(cx.target, &a.service, &a.command, Duration::from_secs(15))
        .await?;
    let exit = out
        .exit_code
        .map_or("did not finish".into(), |c| format!("exited {c}"));
    let output = clip(&out.output, 200);
    evidence.push(if output.is_empty() {
        format!("{label} in `{}` by the grader: {exit}", a.service.value)
    } else {
        format!(
            "{label} in `{}` by the grader: {exit}: {output}",
            a.service.value
        )
    });
    Ok(out.exit_code == Some(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded from Debian bookworm's ansible-core 2.14 against the scenario's web host.
    const UNDEFINED_VARIABLE: &str = r#"
PLAY [Storefront web tier] *****************************************************

TASK [Render the storefront site config] ***************************************
An exception occurred during task execution. To see the full traceback, use -vvv. The error was: ansible.errors.AnsibleUndefinedVariable: 'shop_listen_port' is undefined. 'shop_listen_port' is undefined
fatal: [web]: FAILED! => {"changed": false, "msg": "AnsibleUndefinedVariable: 'shop_listen_port' is undefined. 'shop_listen_port' is undefined"}

PLAY RECAP *********************************************************************
web                        : ok=0    changed=0    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0   
"#;

    const CHECK_WITH_DIFF: &str = r#"
PLAY [Storefront web tier] *****************************************************

TASK [Render the storefront site config] ***************************************
--- before: /srv/shop/conf/shop.conf
+++ after: /home/ansible/.ansible/tmp/ansible-local-8gtju9gc5/tmpo4cw4438/shop.conf.j2
@@ -3,7 +3,7 @@
     listen 8080;
     server_name shop.acme.internal;
     root /srv/shop/html;
-    add_header X-Shop-Release "4.1.0" always;
+    add_header X-Shop-Release "4.2.0" always;
 
     location = /healthz {
         default_type text/plain;
@@ -11,6 +11,6 @@
     }
 
     location / {
-        return 503 "Down for maintenance\n";
+        try_files $uri $uri/ =404;
     }
 }

changed: [web]

TASK [Publish the storefront page] *********************************************
--- before: /srv/shop/html/index.html
+++ after: /home/ansible/.ansible/tmp/ansible-local-8gtju9gc5/tmpyh91efvj/index.html.j2
@@ -3,7 +3,7 @@
 <head><meta charset="utf-8"><title>Acme Shop</title></head>
 <body>
 <h1>Acme Shop</h1>
-<p>Spring collection now in stock.</p>
-<footer>storefront release 4.1.0</footer>
+<p>Summer collection now in stock.</p>
+<footer>storefront release 4.2.0</footer>
 </body>
 </html>

changed: [web]

RUNNING HANDLER [Reload nginx] *************************************************
skipping: [web]

PLAY RECAP *********************************************************************
web                        : ok=2    changed=2    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0   
"#;

    const HANDLER_FAILS: &str = r#"
PLAY [Storefront web tier] *****************************************************

TASK [Render the storefront site config] ***************************************
changed: [web]

TASK [Publish the storefront page] *********************************************
changed: [web]

RUNNING HANDLER [Reload nginx] *************************************************
fatal: [web]: FAILED! => {"changed": false, "cmd": "nginx -s reload", "msg": "[Errno 2] No such file or directory: b'nginx'", "rc": 2, "stderr": "", "stderr_lines": [], "stdout": "", "stdout_lines": []}

PLAY RECAP *********************************************************************
web                        : ok=2    changed=2    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0   
"#;

    const CLEAN: &str = r#"
PLAY RECAP *********************************************************************
web                        : ok=2    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0   
"#;

    const UNREACHABLE: &str = r#"
PLAY [Storefront web tier] *****************************************************

TASK [Render the storefront site config] ***************************************
fatal: [web]: UNREACHABLE! => {"changed": false, "msg": "Failed to connect to the host via ssh: ssh: connect to host web port 2223: Connection refused", "unreachable": true}

PLAY RECAP *********************************************************************
web                        : ok=0    changed=0    unreachable=1    failed=0    skipped=0    rescued=0    ignored=0   
"#;

    const MISSING_PLAYBOOK: &str = "ERROR! the playbook: nosuch.yml could not be found\n";

    fn web() -> Vec<String> {
        vec!["web".into()]
    }

    #[test]
    fn an_undefined_template_variable_is_a_failed_task_with_its_message() {
        let run = parse(UNDEFINED_VARIABLE);
        assert_eq!(
            run.host("web"),
            Some(&HostRecap {
                host: "web".into(),
                failed: 1,
                ..HostRecap::default()
            })
        );
        assert_eq!(run.events.len(), 1);
        assert_eq!(run.events[0].task, "Render the storefront site config");
        assert_eq!(run.events[0].result, TaskResult::Failed);
        assert!(
            run.events[0]
                .detail
                .starts_with("AnsibleUndefinedVariable: 'shop_listen_port'")
        );
        assert_eq!(
            problem(&run, &web(), true).as_deref(),
            Some("1 task(s) failed on `web`")
        );
    }

    #[test]
    fn check_mode_drift_lists_the_changed_tasks_and_their_diff_lines() {
        let run = parse(CHECK_WITH_DIFF);
        assert_eq!(run.changed(), 2);
        let changed: Vec<_> = run.events.iter().map(|e| e.task.as_str()).collect();
        assert_eq!(
            changed,
            [
                "Render the storefront site config",
                "Publish the storefront page"
            ]
        );
        assert!(run.diff.contains(
            &"Render the storefront site config: -        return 503 \"Down for maintenance\\n\";"
                .to_string()
        ));
        assert!(
            !run.diff
                .iter()
                .any(|d| d.contains("--- before") || d.contains("+++ after"))
        );
        assert_eq!(
            problem(&run, &web(), true).as_deref(),
            Some("2 task(s) changed on `web`")
        );
        assert_eq!(problem(&run, &web(), false), None);
    }

    #[test]
    fn a_failing_handler_is_reported_under_the_handler_name() {
        let run = parse(HANDLER_FAILS);
        let failed = run
            .events
            .iter()
            .find(|e| e.result == TaskResult::Failed)
            .unwrap();
        assert_eq!(failed.task, "Reload nginx");
        assert_eq!(
            failed.detail,
            "[Errno 2] No such file or directory: b'nginx'"
        );
        assert!(problem(&run, &web(), false).is_some());
    }

    #[test]
    fn a_clean_recap_has_no_problem_and_an_absent_host_does() {
        let run = parse(CLEAN);
        assert_eq!(problem(&run, &web(), true), None);
        assert_eq!(
            problem(&run, &["db".to_string()], true).as_deref(),
            Some("host `db` is not in the PLAY RECAP")
        );
    }

    #[test]
    fn an_unreachable_host_is_named_with_the_ssh_error() {
        let run = parse(UNREACHABLE);
        assert_eq!(run.events[0].result, TaskResult::Unreachable);
        assert!(run.events[0].detail.contains("Connection refused"));
        assert_eq!(
            problem(&run, &web(), true).as_deref(),
            Some("`web` was unreachable")
        );
    }

    #[test]
    fn a_playbook_that_cannot_start_reports_ansibles_error() {
        let run = parse(MISSING_PLAYBOOK);
        assert!(run.recap.is_empty());
        assert_eq!(
            problem(&run, &web(), true).as_deref(),
            Some(
                "ansible-playbook could not run the playbook: the playbook: nosuch.yml could not be found"
            )
        );
    }

    #[test]
    fn the_command_forces_the_default_callback_and_keeps_the_output_tail() {
        let k: AnsibleConvergedCheck = crate::yaml::from_str(
            "service: control\nplaybook: site.yml\nargs: [-i, inventory.ini]\nhosts: [web]\n",
        )
        .unwrap();
        let cmd = command(&k, &["--check", "--diff"]);
        assert_eq!(cmd[..2], ["sh", "-c"]);
        assert!(cmd[2].contains("ANSIBLE_STDOUT_CALLBACK=default"));
        assert!(cmd[2].contains("tail -c 60000"));
        assert_eq!(
            shown(&cmd),
            "ansible-playbook --check --diff -i inventory.ini site.yml"
        );
    }
}
