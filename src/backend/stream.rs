//! The probe side of HTTP checks: one request with curl (body, then a status marker), or a
//! stream as one shell loop running curl once per request, each writing one line (`seq`,
//! status, header, time, error) with curl's `-w`. One exec for the whole stream keeps the
//! interval honest and costs the engine one round trip, not hundreds.

use crate::scenario::syntax::is_token;
use std::time::Duration;

use super::{
    BackendError, ExecOutput, HttpRequest, HttpResponse, HttpSample, HttpStreamRequest, Result,
};

/// Printed by the loop after the last request: a stream without it was cut short.
pub const END_MARK: &str = "--breakfix-stream-end";

/// The command the probe runs. Values reach the loop as positional parameters, never
/// spliced into the script, except the header name, which is checked to be a plain token.
/// `url` overrides where requests go (a pod's address where there is no service DNS).
pub fn command(req: &HttpStreamRequest, url: Option<String>) -> Vec<String> {
    let url = url.unwrap_or_else(|| format!("http://{}:{}{}", req.service, req.port, req.path));
    let header = req
        .header
        .as_deref()
        .filter(|h| is_token(h))
        .map(|h| format!("%header{{{h}}}"))
        .unwrap_or_default();
    // curl prints the write-out even when no response arrives (status 000, errormsg set).
    let script = format!(
        r#"i=1
while [ "$i" -le "$1" ]; do
  curl -s -o /dev/null --max-time "$2" -w "$i\t%{{http_code}}\t{header}\t%{{time_total}}\t%{{errormsg}}\n" "$4"
  [ "$i" -lt "$1" ] && sleep "$3"
  i=$((i+1))
done
echo {END_MARK}"#
    );
    vec![
        "sh".into(),
        "-c".into(),
        script,
        "breakfix-stream".into(),
        req.count.to_string(),
        secs(req.timeout),
        secs(req.interval),
        url,
    ]
}

const STATUS_MARK: &str = "\n--breakfix-status:";

/// Printed after the status line when the request asks for a response header.
const HEADER_MARK: &str = "\n--breakfix-header:";

/// One request from the probe: curl prints the body, then a marker and the status code (and
/// the response header `req.read_header` names, after its own marker). `url` is where it goes
/// (a pod's address where there is no service DNS); timeouts and headers come from `req`.
pub fn http_command(url: &str, method: &str, body: Option<&str>, req: &HttpRequest) -> Vec<String> {
    let (timeout, connect_timeout) = (req.timeout, req.connect_timeout);
    let secs = timeout.as_secs_f64().max(0.5);
    // Header names are checked to be plain tokens: a name is spliced into curl's write-out.
    let read_header = req
        .read_header
        .as_deref()
        .filter(|h| is_token(h))
        .map(|h| format!("{HEADER_MARK}%header{{{h}}}"))
        .unwrap_or_default();
    let mut cmd: Vec<String> = [
        "curl",
        "-sS",
        "-X",
        method,
        "--max-time",
        &format!("{secs:.1}"),
        "--max-filesize",
        "1000000",
        "-w",
        // curl's exit code and reason ride on the status line too: stderr may not come back.
        &format!("{STATUS_MARK}%{{http_code}}\t%{{exitcode}}\t%{{errormsg}}{read_header}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(c) = connect_timeout.filter(|c| *c < timeout) {
        cmd.extend([
            "--connect-timeout".to_string(),
            format!("{:.1}", c.as_secs_f64().max(0.5)),
        ]);
    }
    for (name, value) in req
        .headers
        .iter()
        .filter(|(n, v)| is_token(n) && !v.contains(['\r', '\n']))
    {
        cmd.extend(["-H".to_string(), format!("{name}: {value}")]);
    }
    if let Some(body) = body {
        // --data-raw: a body starting with `@` is sent as written, not read from a file.
        cmd.extend(
            ["-H", "Content-Type: text/plain", "--data-raw", body]
                .iter()
                .map(|s| s.to_string()),
        );
    }
    cmd.push(url.to_string());
    cmd
}

/// The response in the output of [`http_command`].
fn parse_http(out: &ExecOutput, elapsed_ms: u64) -> HttpResponse {
    let mut output = out.output.as_str();
    // The header asked for comes last, after its marker, when the status line is there.
    let mut header = None;
    if let (Some(h), Some(st)) = (output.rfind(HEADER_MARK), output.rfind(STATUS_MARK))
        && h > st
    {
        let value = output[h + HEADER_MARK.len()..]
            .lines()
            .next()
            .unwrap_or_default()
            .trim();
        header = (!value.is_empty()).then(|| value.to_string());
        output = &output[..h];
    }
    let (body, status) = match output.rfind(STATUS_MARK) {
        Some(i) => {
            let after = &output[i + STATUS_MARK.len()..];
            let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
            (output[..i].to_string(), digits.parse().unwrap_or(0))
        }
        None => (output.to_string(), 0),
    };
    // curl's complaint on stderr may come before or after the status, even on the status's
    // line, depending on how the backend joins stdout and stderr; its write-out carries the
    // same reason after the status, for when stderr does not come back at all.
    let error = (status == 0).then(|| {
        if let Some(i) = output.find("curl: (") {
            return output[i + "curl: ".len()..]
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
        }
        let Some(i) = output.rfind(STATUS_MARK) else {
            return "curl printed no status".into();
        };
        let line = output[i + STATUS_MARK.len()..].lines().next().unwrap_or("");
        let mut fields = line.splitn(3, '\t').skip(1).map(str::trim);
        match (fields.next(), fields.next()) {
            (Some(code), Some(reason)) if !reason.is_empty() => format!("({code}) {reason}"),
            _ => "no answer, and curl gave no reason".into(),
        }
    });
    HttpResponse {
        status,
        body: if status == 0 { String::new() } else { body },
        error,
        elapsed_ms,
        header: header.filter(|_| status != 0),
    }
}

/// The answer in the output of the probe's [`http_command`], or a timeout when the probe
/// itself did not finish within `deadline` (a stalled engine, an overloaded host): that says
/// nothing about the service, so it is no answer a check may judge.
pub fn probe_answer(
    out: &ExecOutput,
    url: &str,
    deadline: Duration,
    elapsed_ms: u64,
) -> Result<HttpResponse> {
    if out.exit_code.is_none() && !out.output.contains(STATUS_MARK) {
        return Err(BackendError::Timeout {
            op: "hear back from the probe's request to",
            object: url.to_string(),
            after: deadline,
        });
    }
    Ok(parse_http(out, elapsed_ms))
}

/// How long the whole stream may take before it counts as stuck.
pub fn deadline(req: &HttpStreamRequest) -> Duration {
    (req.timeout + req.interval + Duration::from_millis(200)) * req.count + Duration::from_secs(10)
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// The samples in the probe's output, and whether the stream reached its end.
pub fn parse(output: &str) -> (Vec<HttpSample>, bool) {
    let mut samples = Vec::new();
    let mut complete = false;
    for line in output.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim() == END_MARK {
            complete = true;
            continue;
        }
        let mut f = line.splitn(5, '\t');
        let (Some(seq), Some(status), Some(header), Some(time), error) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let (Ok(seq), Ok(status)) = (seq.trim().parse::<u32>(), status.trim().parse::<u16>())
        else {
            continue;
        };
        let elapsed_ms = time
            .trim()
            .parse::<f64>()
            .map(|s| (s * 1000.0).round() as u64)
            .unwrap_or(0);
        let header = Some(header.trim())
            .filter(|h| !h.is_empty())
            .map(str::to_string);
        let error = error
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .or_else(|| (status == 0).then(|| "no response".to_string()));
        samples.push(HttpSample {
            seq,
            status,
            header,
            elapsed_ms,
            error,
        });
    }
    (samples, complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> HttpStreamRequest {
        HttpStreamRequest {
            service: "proxy".into(),
            port: 8080,
            path: "/api/products".into(),
            count: 3,
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(2),
            header: Some("X-App-Version".into()),
        }
    }

    #[test]
    fn the_command_passes_values_as_parameters_and_records_the_header() {
        let cmd = command(&request(), None);
        assert_eq!(&cmd[..2], ["sh", "-c"]);
        assert!(cmd[2].contains("%header{X-App-Version}"), "{}", cmd[2]);
        assert_eq!(
            &cmd[3..],
            [
                "breakfix-stream",
                "3",
                "2.000",
                "0.100",
                "http://proxy:8080/api/products"
            ]
        );
    }

    #[test]
    fn a_header_name_that_is_not_a_token_is_left_out_of_the_script() {
        let mut req = request();
        req.header = Some("x\"; rm -rf /".into());
        let cmd = command(&req, None);
        assert!(!cmd[2].contains("%header"), "{}", cmd[2]);
    }

    #[test]
    fn the_deadline_covers_every_request_timing_out() {
        let d = deadline(&request());
        assert!(d >= Duration::from_secs(3 * 2 + 10), "{d:?}");
    }
    #[test]
    fn a_probe_answer_reads_the_status_and_curls_complaint_wherever_stderr_lands() {
        let answer = |output: &str, exit_code: Option<i64>| {
            let out = ExecOutput {
                exit_code,
                output: output.into(),
            };
            probe_answer(&out, "http://web:8080/", Duration::from_secs(8), 5)
        };
        let ok = answer("{\"orders\": []}\n--breakfix-status:200", Some(0)).expect("answer");
        assert_eq!((ok.status, ok.error.as_deref()), (200, None));
        assert_eq!(ok.body, "{\"orders\": []}");
        // stderr joined right after the status, on its line, or before it.
        for output in [
            "\n--breakfix-status:000curl: (6) Could not resolve host: web\n",
            "curl: (6) Could not resolve host: web\n\n--breakfix-status:000",
        ] {
            let failed = answer(output, Some(6)).expect("answer");
            assert_eq!(failed.status, 0);
            assert_eq!(
                failed.error.as_deref(),
                Some("(6) Could not resolve host: web"),
                "{output:?}"
            );
        }
        // Only the write-out came back: the reason is read from it.
        let refused = answer(
            "\n--breakfix-status:000\t7\tFailed to connect to web port 80 after 3 ms: Couldn't connect to server",
            Some(7),
        )
        .expect("answer");
        assert_eq!(
            refused.error.as_deref(),
            Some("(7) Failed to connect to web port 80 after 3 ms: Couldn't connect to server")
        );
        let ok = answer("hi\n--breakfix-status:200\t0\t", Some(0)).expect("answer");
        assert_eq!(
            (ok.status, ok.error.as_deref(), ok.body.as_str()),
            (200, None, "hi")
        );
        // The probe itself did not finish: nothing was observed.
        let stalled = answer("", None).expect_err("no answer");
        assert!(matches!(stalled, BackendError::Timeout { .. }), "{stalled}");
    }

    #[test]
    fn a_request_sends_its_headers_and_brings_back_the_one_it_reads() {
        let req = HttpRequest {
            timeout: Duration::from_secs(3),
            headers: vec![
                ("X-Breakfix-Nonce".into(), "0123abcd".into()),
                ("Bad Name".into(), "x".into()),
                ("X-Split".into(), "a\r\nX-Evil: 1".into()),
            ],
            read_header: Some("X-Breakfix-Proof".into()),
            ..HttpRequest::default()
        };
        let cmd = http_command("http://web:8080/api/orders", "GET", None, &req);
        let sent: Vec<&String> = cmd
            .iter()
            .enumerate()
            .filter(|(i, _)| *i > 0 && cmd[i - 1] == "-H")
            .map(|(_, h)| h)
            .collect();
        assert_eq!(sent, ["X-Breakfix-Nonce: 0123abcd"]);
        assert!(
            cmd.iter()
                .any(|a| a.ends_with("\n--breakfix-header:%header{X-Breakfix-Proof}")),
            "{cmd:?}"
        );
        let answer = |output: &str| {
            let out = ExecOutput {
                exit_code: Some(0),
                output: output.into(),
            };
            probe_answer(&out, "http://web:8080/", Duration::from_secs(8), 5).expect("answer")
        };
        let proven =
            answer("{\"orders\": []}\n--breakfix-status:200\t0\t\n--breakfix-header:feedface");
        assert_eq!(proven.status, 200);
        assert_eq!(proven.body, "{\"orders\": []}");
        assert_eq!(proven.header.as_deref(), Some("feedface"));
        let bare = answer("{\"orders\": []}\n--breakfix-status:200\t0\t\n--breakfix-header:");
        assert_eq!((bare.status, bare.header), (200, None));
    }
}
