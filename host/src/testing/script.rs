//! `wasmsock test FILE.wasm --script STEPS`: a tiny line-based language for
//! testing a plugin through the harness from any language's toolchain,
//! without writing Rust.
//!
//! One step per line; blank lines and lines starting with `#` are skipped.
//!
//! ```text
//! config greeting hello       # [config] value; before the first connect
//! timeout 2s                  # how long expect-* steps wait (default 2s)
//! header origin https://x.io  # sent with the next connect
//! connect /chat/lobby?a=1     # must be accepted
//! connect-rejected /x 403     # must be refused with this status
//! send hello world            # a text message (the rest of the line)
//! send-binary 00ff10          # a binary message, hex
//! expect hello world          # the next message is this text
//! expect-binary 00ff10        # the next message is these bytes
//! expect-nothing 100ms        # nothing arrives within this long
//! expect-close 4001 bye       # the plugin closes with this code (and reason)
//! expect-log connect 1        # some log line contains this
//! close 1000                  # the client closes with this code
//! ```

use std::path::Path;
use std::time::Duration;

use super::{HarnessError, Message, ScopeBuilder, TestConnection, TestPlugin};

/// Why a script did not pass.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// A line is not a step.
    #[error("line {line}: {message}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// Loading the plugin, or closing the connection left open at the end,
    /// failed.
    #[error("{0}")]
    Harness(HarnessError),
    /// A step failed.
    #[error("line {line}: `{step}`: {message}")]
    Failed {
        /// 1-based line number.
        line: usize,
        /// The step as written.
        step: String,
        /// What happened instead.
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Config(String, String),
    Timeout(Duration),
    Header(String, String),
    Connect(String),
    ConnectRejected(String, u16),
    Send(Message),
    Expect(Message),
    ExpectNothing(Duration),
    ExpectClose(u16, Option<String>),
    ExpectLog(String),
    Close(u16),
}

/// A duration like `100ms`, `2s` or `250` (milliseconds).
fn duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.trim().parse().ok().map(Duration::from_millis);
    }
    if let Some(s) = text.strip_suffix('s') {
        return s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|s| (s.is_finite() && s >= 0.0).then(|| Duration::from_secs_f64(s)));
    }
    text.parse().ok().map(Duration::from_millis)
}

fn hex(text: &str) -> Option<Vec<u8>> {
    let text: String = text.split_whitespace().collect();
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn parse_line(text: &str) -> Result<Option<Step>, String> {
    let text = text.trim_end_matches(['\r', '\n']);
    let trimmed = text.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let (word, rest) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
    let arg = rest.trim();
    let need = |what: &str| format!("`{word}` needs {what}");
    let code = |s: &str| s.parse::<u16>().map_err(|_| need("a numeric code"));
    let step = match word {
        "config" => {
            let (k, v) = arg.split_once(' ').ok_or_else(|| need("KEY VALUE"))?;
            Step::Config(k.to_string(), v.trim().to_string())
        }
        "timeout" => Step::Timeout(duration(arg).ok_or_else(|| need("a duration"))?),
        "header" => {
            let (k, v) = arg.split_once(' ').ok_or_else(|| need("NAME VALUE"))?;
            Step::Header(k.trim_end_matches(':').to_string(), v.trim().to_string())
        }
        "connect" if !arg.is_empty() => Step::Connect(arg.to_string()),
        "connect-rejected" => {
            let (p, s) = arg.split_once(' ').ok_or_else(|| need("PATH STATUS"))?;
            Step::ConnectRejected(p.to_string(), code(s.trim())?)
        }
        // The message is the rest of the line exactly, spaces included.
        "send" => Step::Send(Message::Text(rest.to_string())),
        "send-binary" => Step::Send(Message::Binary(hex(arg).ok_or_else(|| need("hex bytes"))?)),
        "expect" => Step::Expect(Message::Text(rest.to_string())),
        "expect-binary" => {
            Step::Expect(Message::Binary(hex(arg).ok_or_else(|| need("hex bytes"))?))
        }
        "expect-nothing" => Step::ExpectNothing(duration(arg).ok_or_else(|| need("a duration"))?),
        "expect-close" => {
            let (c, reason) = match arg.split_once(' ') {
                Some((c, r)) => (c, Some(r.trim().to_string())),
                None => (arg, None),
            };
            Step::ExpectClose(code(c)?, reason)
        }
        "expect-log" if !arg.is_empty() => Step::ExpectLog(arg.to_string()),
        "close" => Step::Close(code(arg)?),
        _ => return Err(format!("unknown step `{trimmed}`")),
    };
    Ok(Some(step))
}

fn parse(script: &str) -> Result<Vec<(usize, String, Step)>, ScriptError> {
    let mut steps = Vec::new();
    for (i, line) in script.lines().enumerate() {
        match parse_line(line) {
            Ok(Some(step)) => steps.push((i + 1, line.trim().to_string(), step)),
            Ok(None) => {}
            Err(message) => {
                return Err(ScriptError::Parse {
                    line: i + 1,
                    message,
                })
            }
        }
    }
    Ok(steps)
}

/// Run `script` against the plugin at `wasm`. Each passed step is reported
/// to `progress` (line number and step); the first failure ends the run.
/// Returns the number of steps run.
pub async fn run(
    wasm: &Path,
    script: &str,
    mut progress: impl FnMut(usize, &str),
) -> Result<usize, ScriptError> {
    let steps = parse(script)?;
    let mut options = TestPlugin::options(wasm);
    for (_, _, step) in &steps {
        if let Step::Config(k, v) = step {
            options = options.config(k.clone(), v.clone());
        }
    }
    let plugin = options.load().await.map_err(ScriptError::Harness)?;
    let mut wait = Duration::from_secs(2);
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut conn: Option<TestConnection> = None;
    for (line, text, step) in &steps {
        let fail = |message: String| ScriptError::Failed {
            line: *line,
            step: text.clone(),
            message,
        };
        let harness = |e: HarnessError| fail(e.to_string());
        let request = |path: &str, headers: &mut Vec<(String, String)>| {
            headers
                .drain(..)
                .fold(ScopeBuilder::path(path), |b, (k, v)| b.header(k, v))
        };
        match step {
            Step::Config(..) => {}
            Step::Timeout(d) => wait = *d,
            Step::Header(k, v) => headers.push((k.clone(), v.clone())),
            Step::Connect(path) => {
                let req = request(path, &mut headers);
                let c = plugin.connect(req).await.map_err(harness)?;
                conn = Some(c.accepted().map_err(harness)?);
            }
            Step::ConnectRejected(path, status) => {
                let req = request(path, &mut headers);
                let r = plugin.connect(req).await.map_err(harness)?;
                let r = r.rejected().map_err(harness)?;
                if r.status != *status {
                    return Err(fail(format!("refused with {} {:?}", r.status, r.body)));
                }
            }
            Step::Close(code) => {
                let c = conn
                    .take()
                    .ok_or_else(|| fail("no connection is open".into()))?;
                c.disconnect(*code).await.map_err(harness)?;
            }
            Step::ExpectLog(needle) => {
                if !plugin.log_text().contains(needle.as_str()) {
                    return Err(fail(format!(
                        "no log line contains it; log:\n{}",
                        plugin.log_text()
                    )));
                }
            }
            Step::Send(_) | Step::Expect(_) | Step::ExpectNothing(_) | Step::ExpectClose(..) => {
                let c = conn
                    .as_mut()
                    .ok_or_else(|| fail("no connection is open (add a `connect` step)".into()))?;
                match step {
                    Step::Send(m) => c.send(m.clone()).await.map_err(harness)?,
                    Step::Expect(want) => {
                        let got = c.receive(wait).await.map_err(harness)?;
                        if &got != want {
                            return Err(fail(format!("received {}", super::Output::Message(got))));
                        }
                    }
                    Step::ExpectNothing(d) => c.receive_nothing(*d).await.map_err(harness)?,
                    Step::ExpectClose(code, reason) => {
                        let got = c.receive_close(wait).await.map_err(harness)?;
                        if got.code != *code || reason.as_ref().is_some_and(|r| *r != got.reason) {
                            return Err(fail(format!("closed with {} {:?}", got.code, got.reason)));
                        }
                    }
                    _ => {}
                }
            }
        }
        progress(*line, text);
    }
    if let Some(c) = conn {
        c.disconnect(1000).await.map_err(ScriptError::Harness)?;
    }
    Ok(steps.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_step() {
        let steps = parse(
            "# comment\n\nconfig k v w\ntimeout 1.5s\nheader Origin: https://x\nconnect /a?b=1\n\
             send  two spaces\nsend-binary 00 ff\nexpect hi\nexpect-nothing 50ms\n\
             expect-close 4001 bye now\nexpect-log x\nclose 1000\nconnect-rejected /x 403\n",
        )
        .expect("parses");
        let steps: Vec<Step> = steps.into_iter().map(|(_, _, s)| s).collect();
        assert_eq!(
            steps,
            vec![
                Step::Config("k".into(), "v w".into()),
                Step::Timeout(Duration::from_millis(1500)),
                Step::Header("Origin".into(), "https://x".into()),
                Step::Connect("/a?b=1".into()),
                Step::Send(Message::Text(" two spaces".into())),
                Step::Send(Message::Binary(vec![0, 255])),
                Step::Expect(Message::Text("hi".into())),
                Step::ExpectNothing(Duration::from_millis(50)),
                Step::ExpectClose(4001, Some("bye now".into())),
                Step::ExpectLog("x".into()),
                Step::Close(1000),
                Step::ConnectRejected("/x".into(), 403),
            ]
        );
    }

    #[test]
    fn names_the_bad_line() {
        for (script, line) in [
            ("connect /a\nfrobnicate\n", 2),
            ("expect-nothing soon", 1),
            ("\n\nsend-binary 0g", 3),
            ("close abc", 1),
        ] {
            match parse(script) {
                Err(ScriptError::Parse { line: l, .. }) => assert_eq!(l, line, "{script:?}"),
                other => panic!("{script:?}: {other:?}"),
            }
        }
    }
}
