//! Request routing like TF Serving's REST handler (`http_rest_api_util.cc`): the same path
//! grammar (case-insensitive `/v1/models` prefix, model names `[^/:]+`, `/versions/{digits}` or
//! `/labels/{label}`, `:predict|:classify|:regress` for POST, optional `/metadata` for GET) and
//! the same fallbacks: any other method or path under `/v1/` is `400 Malformed request: METHOD
//! PATH`, anything outside `/v1/` is 404.
//!
//! As in TF Serving, the grammar is matched against the request target **with its query
//! string** (TF Serving's `uri_path()` is path and query), so a query after the verb makes a
//! POST malformed and a query after a model name becomes part of the name. Model names and
//! labels are then percent-decoded (curl's unescape: `%XX` decoded, `+` kept).
//! Paths under `/-/sim/` are the simulator's control endpoint.

use http::Method;
use percent_encoding::percent_decode_str;

use super::error::ApiError;
use super::half_plus_two::ExampleMethod;

/// Which version of a model a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSelector {
    /// The latest available version.
    Latest,
    /// A numbered version.
    Number(i64),
    /// A labelled version.
    Label(String),
}

/// What an inference request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inference {
    /// `:predict`.
    Predict,
    /// `:classify` or `:regress`.
    Examples(ExampleMethod),
}

/// A routed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/models/{model}[…]:{method}`.
    Inference {
        /// Model name.
        model: String,
        /// Version selector.
        version: VersionSelector,
        /// Method.
        method: Inference,
    },
    /// `GET /v1/models/{model}[…]`.
    Status {
        /// Model name.
        model: String,
        /// Version selector (`Latest` lists all versions).
        version: VersionSelector,
    },
    /// `GET /v1/models/{model}[…]/metadata`.
    Metadata {
        /// Model name.
        model: String,
        /// Version selector.
        version: VersionSelector,
    },
    /// `/-/sim/{rest}`: the control endpoint.
    Control(String),
    /// `OPTIONS` under `/v1/`: a CORS preflight.
    Preflight,
}

/// Prefix of the simulator's control endpoint.
pub const CONTROL_PREFIX: &str = "/-/sim/";

/// Routes a request; `path` is the request target's path **and query**.
///
/// # Errors
/// 404 outside `/v1/`; 400 `Malformed request` for anything under `/v1/` that does not match;
/// 400 for a version that is not a 64-bit integer or a missing model name.
pub fn route(method: &Method, path: &str) -> Result<Route, ApiError> {
    if let Some(rest) = path.strip_prefix(CONTROL_PREFIX) {
        let rest = rest.split_once('?').map_or(rest, |(p, _)| p);
        return Ok(Route::Control(rest.to_owned()));
    }
    if !starts_with_ignore_case(path, "/v1/") {
        return Err(ApiError::not_found(format!("Not found: {path}")));
    }
    if *method == Method::OPTIONS {
        return Ok(Route::Preflight);
    }
    let malformed = || ApiError::invalid_argument(format!("Malformed request: {method} {path}"));
    let rest = &path["/v1/".len()..];
    if !starts_with_ignore_case(rest, "models") {
        return Err(malformed());
    }
    let rest = &rest["models".len()..];

    if *method == Method::POST {
        let (spec, verb) = rest.rsplit_once(':').ok_or_else(malformed)?;
        let method = match verb.to_ascii_lowercase().as_str() {
            "predict" => Inference::Predict,
            "classify" => Inference::Examples(ExampleMethod::Classify),
            "regress" => Inference::Examples(ExampleMethod::Regress),
            _ => return Err(malformed()),
        };
        let spec = spec.strip_prefix('/').ok_or_else(malformed)?;
        let (model, version, tail) = model_and_version(spec).ok_or_else(malformed)?;
        if !tail.is_empty() {
            return Err(malformed());
        }
        return Ok(Route::Inference {
            model,
            version: version?,
            method,
        });
    }
    if *method == Method::GET {
        if rest.is_empty() {
            return Err(ApiError::invalid_argument("Missing model name in request."));
        }
        let spec = rest.strip_prefix('/').ok_or_else(malformed)?;
        if spec.contains(':') {
            return Err(malformed());
        }
        let (model, version, tail) = model_and_version(spec).ok_or_else(malformed)?;
        let version = version?;
        return match tail {
            "" => Ok(Route::Status { model, version }),
            t if t.eq_ignore_ascii_case("/metadata") => Ok(Route::Metadata { model, version }),
            _ => Err(malformed()),
        };
    }
    Err(malformed())
}

/// Splits `{model}[/versions/{digits}|/labels/{label}]{tail}`; `None` when the shape is wrong.
fn model_and_version(spec: &str) -> Option<(String, Result<VersionSelector, ApiError>, &str)> {
    let (model, rest) = match spec.find(['/', ':']) {
        Some(i) => spec.split_at(i),
        None => (spec, ""),
    };
    if model.is_empty() {
        return None;
    }
    let model = decode(model);
    let segment = |rest: &str, word: &str| -> Option<(usize, usize)> {
        let after = rest.strip_prefix('/')?;
        if !starts_with_ignore_case(after, word) || after.as_bytes().get(word.len()) != Some(&b'/')
        {
            return None;
        }
        let start = 1 + word.len() + 1;
        let end = rest[start..]
            .find(['/', ':'])
            .map_or(rest.len(), |i| start + i);
        (end > start).then_some((start, end))
    };
    if let Some((start, end)) = segment(rest, "versions") {
        let digits = &rest[start..end];
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let version = digits
            .parse::<i64>()
            .map(VersionSelector::Number)
            .map_err(|_| {
                ApiError::invalid_argument(format!(
                    "Failed to convert version: {digits} to numeric."
                ))
            });
        return Some((model, version, &rest[end..]));
    }
    if let Some((start, end)) = segment(rest, "labels") {
        let label = decode(&rest[start..end]);
        return Some((model, Ok(VersionSelector::Label(label)), &rest[end..]));
    }
    Some((model, Ok(VersionSelector::Latest), rest))
}

/// Percent-decodes a model name or label like curl's unescape (TF Serving's `DecodeArg`):
/// `%XX` sequences are decoded, anything else is kept; bytes that are not UTF-8 are replaced.
fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(method: Method, path: &str) -> Route {
        route(&method, path).unwrap()
    }

    fn status(method: Method, path: &str) -> u16 {
        route(&method, path).unwrap_err().status.as_u16()
    }

    #[test]
    fn inference_paths() {
        assert_eq!(
            ok(Method::POST, "/v1/models/half_plus_two:predict"),
            Route::Inference {
                model: "half_plus_two".into(),
                version: VersionSelector::Latest,
                method: Inference::Predict
            }
        );
        assert_eq!(
            ok(Method::POST, "/V1/Models/m/versions/12:CLASSIFY"),
            Route::Inference {
                model: "m".into(),
                version: VersionSelector::Number(12),
                method: Inference::Examples(ExampleMethod::Classify)
            }
        );
        assert_eq!(
            ok(Method::POST, "/v1/models/m/labels/stable:regress"),
            Route::Inference {
                model: "m".into(),
                version: VersionSelector::Label("stable".into()),
                method: Inference::Examples(ExampleMethod::Regress)
            }
        );
    }

    #[test]
    fn status_and_metadata_paths() {
        assert_eq!(
            ok(Method::GET, "/v1/models/m"),
            Route::Status {
                model: "m".into(),
                version: VersionSelector::Latest
            }
        );
        assert_eq!(
            ok(Method::GET, "/v1/models/m/versions/3"),
            Route::Status {
                model: "m".into(),
                version: VersionSelector::Number(3)
            }
        );
        assert_eq!(
            ok(Method::GET, "/v1/models/m/labels/canary/metadata"),
            Route::Metadata {
                model: "m".into(),
                version: VersionSelector::Label("canary".into())
            }
        );
        assert_eq!(
            ok(Method::GET, "/v1/models/m/metadata"),
            Route::Metadata {
                model: "m".into(),
                version: VersionSelector::Latest
            }
        );
        assert_eq!(
            ok(Method::POST, "/-/sim/fault"),
            Route::Control("fault".into())
        );
    }

    #[test]
    fn names_are_percent_decoded_and_take_any_character() {
        assert_eq!(
            ok(
                Method::POST,
                "/v1/models/my%20model%2Fv%3A2/labels/can%61ry:predict"
            ),
            Route::Inference {
                model: "my model/v:2".into(),
                version: VersionSelector::Label("canary".into()),
                method: Inference::Predict
            }
        );
        assert_eq!(
            ok(Method::GET, "/V1/MODELS/h\u{e9}+x%zz?a=b"),
            Route::Status {
                model: "h\u{e9}+x%zz?a=b".into(),
                version: VersionSelector::Latest
            }
        );
        let long = "m".repeat(5000);
        assert_eq!(
            ok(Method::GET, &format!("/v1/models/{long}/metadata")),
            Route::Metadata {
                model: long,
                version: VersionSelector::Latest
            }
        );
        assert_eq!(
            ok(Method::OPTIONS, "/v1/models/m:predict"),
            Route::Preflight
        );
    }

    #[test]
    fn malformed_and_unknown_paths() {
        assert_eq!(status(Method::GET, "/v1/models/m:predict"), 400);
        assert_eq!(status(Method::PUT, "/v1/models/m:predict"), 400);
        assert_eq!(status(Method::DELETE, "/v1/models/m"), 400);
        assert_eq!(status(Method::POST, "/v1/models/m"), 400);
        assert_eq!(status(Method::POST, "/v1/models/m:explain"), 400);
        assert_eq!(status(Method::POST, "/v1/models/m/versions/x:predict"), 400);
        assert_eq!(status(Method::POST, "/v1/models/m/versions/:predict"), 400);
        assert_eq!(status(Method::GET, "/v1/models/m/versions/1/labels/a"), 400);
        assert_eq!(status(Method::GET, "/v1/models/m/other"), 400);
        assert_eq!(status(Method::GET, "/v1/models"), 400);
        assert_eq!(status(Method::GET, "/v1/models/"), 400);
        // TF Serving's tests: singular "version", "label", a non-numeric version.
        assert_eq!(
            status(Method::GET, "/v1/models/foo/version/50:predict"),
            400
        );
        assert_eq!(status(Method::POST, "/v1/models/foo/label/l:regress"), 400);
        assert_eq!(
            status(Method::POST, "/v1/models/foo/versions/HELLO:regress"),
            400
        );
        assert_eq!(status(Method::POST, "/v1/models/foo/metadata"), 400);
        // The query is part of the matched path: a POST with one is malformed.
        assert_eq!(status(Method::POST, "/v1/models/m:predict?debug=1"), 400);
        assert_eq!(status(Method::GET, "/v1/other"), 400);
        assert_eq!(
            status(
                Method::POST,
                "/v1/models/m/versions/99999999999999999999:predict"
            ),
            400
        );
        assert_eq!(status(Method::GET, "/"), 404);
        assert_eq!(status(Method::GET, "/healthz"), 404);
    }
}
