//! Unmodified HTTP clients, run inside the lab: curl and Python's standard urllib.

use std::collections::BTreeMap;
use std::path::Path;

use super::lab::{Lab, TF_HOST};

/// What a client got.
#[derive(Debug)]
pub enum Reply {
    /// An HTTP response: status, headers (names lower-case) and JSON body.
    Http {
        /// The status code.
        status: u16,
        /// Response headers, names lower-case (the last value of a repeated one).
        headers: BTreeMap<String, String>,
        /// The body, as JSON.
        body: serde_json::Value,
    },
    /// No connection: the client's own words.
    Failed(String),
}

impl Reply {
    /// The body of a 200 response; panics with the reply otherwise.
    pub fn ok(self) -> serde_json::Value {
        self.ok_with_headers().1
    }

    /// Headers and body of a 200 response; panics with the reply otherwise.
    pub fn ok_with_headers(self) -> (BTreeMap<String, String>, serde_json::Value) {
        match self {
            Reply::Http {
                status: 200,
                headers,
                body,
            } => (headers, body),
            other => panic!("expected 200, got {other:?}"),
        }
    }

    /// Asserts the connection was refused.
    pub fn assert_refused(&self) {
        match self {
            Reply::Failed(msg) if msg.contains("Connection refused") => {}
            other => panic!("expected connection refused, got {other:?}"),
        }
    }
}

/// The TF Serving predict URL on `port` of the name the lab resolves.
pub fn predict_url(port: u16) -> String {
    format!("http://{TF_HOST}:{port}/v1/models/anything:predict")
}

const BODY: &str = r#"{"instances": [[1.0, 2.0]]}"#;

/// `curl` POSTs a predict request (as `uid` when given, through setpriv).
pub fn curl(lab: &Lab, url: &str, uid: Option<u32>) -> Reply {
    let curl_args = [
        "-sS",
        "-v",
        "--max-time",
        "20",
        "-H",
        "content-type: application/json",
        "-d",
        BODY,
        "-D",
        "-",
        "-w",
        "\n%{http_code}",
        url,
    ];
    let out = match uid {
        None => lab.exec("curl", &curl_args).output(),
        Some(uid) => {
            let uid = uid.to_string();
            let mut args = vec!["--reuid", &uid, "--regid", &uid, "--clear-groups", "curl"];
            args.extend(curl_args);
            lab.exec("setpriv", &args).output()
        }
    }
    .expect("run curl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Reply::Failed(format!("curl {}: {stderr}", out.status));
    }
    // `-D -` writes the response head first, `-w` appends the status after the body.
    let (head, rest) = stdout
        .split_once("\r\n\r\n")
        .expect("curl -D - writes the response head");
    let (body, code) = rest.rsplit_once('\n').expect("curl -w appends the status");
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply::Http {
        status: code.trim().parse().expect("status code"),
        headers,
        body: serde_json::from_str(body).unwrap_or_else(|e| panic!("JSON body ({e}): {body}")),
    }
}

/// Python's `urllib.request.urlopen` POSTs a predict request.
pub fn urllib(lab: &Lab, url: &str) -> Reply {
    const SCRIPT: &str = r#"
import json, sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(),
                             headers={"content-type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=20) as resp:
        print(resp.status); print(json.dumps({k.lower(): v for k, v in resp.headers.items()}))
        print(resp.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); print(json.dumps({k.lower(): v for k, v in e.headers.items()}))
    print(e.read().decode())
except urllib.error.URLError as e:
    print("urllib:", e.reason, file=sys.stderr); sys.exit(7)
"#;
    // Debian's own python3 when present: independent of the caller's PATH and of version shims.
    let python = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let out = lab
        .exec(python, &["-c", SCRIPT, url, BODY])
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Reply::Failed(format!("python {}: {stderr}", out.status));
    }
    let mut lines = stdout.splitn(3, '\n');
    let (code, headers, body) = (
        lines.next().expect("status line"),
        lines.next().expect("headers line"),
        lines.next().unwrap_or_default(),
    );
    Reply::Http {
        status: code.trim().parse().expect("status code"),
        headers: serde_json::from_str(headers).expect("headers as JSON"),
        body: serde_json::from_str(body.trim())
            .unwrap_or_else(|e| panic!("JSON body ({e}): {body}")),
    }
}
