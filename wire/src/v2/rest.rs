//! The Open Inference Protocol's REST paths: parsing a request path by slicing (no allocation
//! unless the caller asks for a decoded name) and building the path sent to the chosen
//! executor with its model name.
//!
//! Grammar (the core protocol; names and versions are path segments, percent-encoded):
//!
//! ```text
//! GET  /v2                                                    server metadata
//! GET  /v2/health/live                                        server live
//! GET  /v2/health/ready                                       server ready
//! GET  /v2/models/{name}[/versions/{version}]                 model metadata
//! GET  /v2/models/{name}[/versions/{version}]/ready           model ready
//! POST /v2/models/{name}[/versions/{version}]/infer           inference
//! ```
//!
//! Matching is exact and case-sensitive, as in Triton, MLServer and KServe's server (FastAPI
//! answers a trailing slash with a 307 redirect; here it is simply not a route). Extensions
//! (`/v2/repository/…`, KServe's `GET /v2/models`, Triton's statistics, the generate
//! extension) are [`PathError::NotFound`]. The REST body never names the model, so a proxy
//! rewrites only the path; see [`super::binary`] for the binary-tensor body.

use std::borrow::Cow;

use http::Method;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Prefix of every V2 path.
pub const PREFIX: &str = "/v2";
/// Prefix of the model paths.
pub const MODELS_PREFIX: &str = "/v2/models/";

/// Characters percent-encoded in a path segment built here: everything but RFC 3986's
/// unreserved characters, so any model name survives as one segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A V2 REST route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /v2`.
    ServerMetadata,
    /// `GET /v2/health/live`.
    ServerLive,
    /// `GET /v2/health/ready`.
    ServerReady,
    /// `/v2/models/{name}[/versions/{version}][/ready|/infer]`.
    Model(ModelPath<'a>),
}

/// What a model path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelAction {
    /// `GET …` model metadata.
    Metadata,
    /// `GET …/ready`.
    Ready,
    /// `POST …/infer`.
    Infer,
}

/// A parsed model path, borrowing the raw (still percent-encoded) segments from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelPath<'a> {
    /// The name segment as sent (percent-encoded; [`ModelPath::name`] decodes it).
    pub raw_name: &'a str,
    /// The version segment as sent, when the path has `/versions/{version}`.
    pub raw_version: Option<&'a str>,
    /// What is asked.
    pub action: ModelAction,
}

/// Why a path is not a V2 route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Not under `/v2` at all (another protocol's path).
    #[error("not an Open Inference Protocol path")]
    NotV2,
    /// Under `/v2` but no route of the core protocol (404 in the protocol's error shape).
    #[error("no such Open Inference Protocol route")]
    NotFound,
    /// A model path with an empty segment, a bad percent escape or a name or version that is
    /// not UTF-8 once decoded (400).
    #[error("malformed model name or version in the path")]
    Malformed,
}

// === impl Route ===

impl<'a> Route<'a> {
    /// Parses a request path (without the query string).
    ///
    /// # Errors
    /// See [`PathError`].
    pub fn parse(path: &'a str) -> Result<Route<'a>, PathError> {
        let Some(rest) = path.strip_prefix(PREFIX) else {
            return Err(PathError::NotV2);
        };
        match rest {
            "" => return Ok(Route::ServerMetadata),
            "/health/live" => return Ok(Route::ServerLive),
            "/health/ready" => return Ok(Route::ServerReady),
            _ => {}
        }
        if !rest.starts_with('/') {
            // "/v2x…": another prefix.
            return Err(PathError::NotV2);
        }
        if rest.ends_with('/') {
            // FastAPI-based servers redirect these; no core route ends in a slash.
            return Err(PathError::NotFound);
        }
        let Some(rest) = path.strip_prefix(MODELS_PREFIX) else {
            return Err(PathError::NotFound);
        };
        let mut segments = rest.split('/');
        let name = segments.next().unwrap_or_default();
        let (version, action) = match (segments.next(), segments.next(), segments.next()) {
            (None, _, _) => (None, ModelAction::Metadata),
            (Some("ready"), None, _) => (None, ModelAction::Ready),
            (Some("infer"), None, _) => (None, ModelAction::Infer),
            (Some("versions"), Some(v), tail) => {
                let action = match (tail, segments.next()) {
                    (None, _) => ModelAction::Metadata,
                    (Some("ready"), None) => ModelAction::Ready,
                    (Some("infer"), None) => ModelAction::Infer,
                    _ => return Err(PathError::NotFound),
                };
                (Some(v), action)
            }
            _ => return Err(PathError::NotFound),
        };
        check_segment(name)?;
        if let Some(v) = version {
            check_segment(v)?;
        }
        Ok(Route::Model(ModelPath {
            raw_name: name,
            raw_version: version,
            action,
        }))
    }

    /// The method the route is served for: `POST` for infer, `GET` for everything else.
    pub fn method(&self) -> Method {
        match self {
            Route::Model(ModelPath {
                action: ModelAction::Infer,
                ..
            }) => Method::POST,
            _ => Method::GET,
        }
    }

    /// The model path, when the route names a model.
    pub fn model(&self) -> Option<&ModelPath<'a>> {
        match self {
            Route::Model(m) => Some(m),
            _ => None,
        }
    }
}

// === impl ModelPath ===

impl<'a> ModelPath<'a> {
    /// The model name, percent-decoded (borrowed when it had no escapes).
    pub fn name(&self) -> Cow<'a, str> {
        decode(self.raw_name)
    }

    /// The version, percent-decoded.
    pub fn version(&self) -> Option<Cow<'a, str>> {
        self.raw_version.map(decode)
    }

    /// The path suffix after the name and version.
    fn suffix(&self) -> &'static str {
        match self.action {
            ModelAction::Metadata => "",
            ModelAction::Ready => "/ready",
            ModelAction::Infer => "/infer",
        }
    }

    /// Builds `/v2/models/{model}[/versions/{version}]{suffix}[?query]` for an executor, in one
    /// allocation; `model` and `version` are plain (decoded) strings and are percent-encoded
    /// here. The query is kept as sent.
    pub fn rewrite_path_and_query(
        &self,
        model: &str,
        version: Option<&str>,
        query: Option<&str>,
    ) -> String {
        let capacity = MODELS_PREFIX.len()
            + model.len()
            + version.map_or(0, |v| v.len() + 10)
            + 7
            + query.map_or(0, |q| q.len() + 1);
        let mut out = String::with_capacity(capacity);
        out.push_str(MODELS_PREFIX);
        out.extend(utf8_percent_encode(model, SEGMENT));
        if let Some(v) = version {
            out.push_str("/versions/");
            out.extend(utf8_percent_encode(v, SEGMENT));
        }
        out.push_str(self.suffix());
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
        out
    }
}

/// A segment must be non-empty, every `%` must start a two-digit hex escape, and the decoded
/// bytes must be UTF-8.
fn check_segment(segment: &str) -> Result<(), PathError> {
    if segment.is_empty() {
        return Err(PathError::Malformed);
    }
    let bytes = segment.as_bytes();
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'%') {
        let at = i + offset;
        let hex = bytes.get(at + 1..at + 3).ok_or(PathError::Malformed)?;
        if !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err(PathError::Malformed);
        }
        i = at + 3;
    }
    if !segment.contains('%') {
        return Ok(());
    }
    percent_decode_str(segment)
        .decode_utf8()
        .map(drop)
        .map_err(|_| PathError::Malformed)
}

fn decode(segment: &str) -> Cow<'_, str> {
    // Checked by `check_segment` at parse time; a lossy decode keeps this infallible for
    // hand-built paths.
    percent_decode_str(segment).decode_utf8_lossy()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever name and version an executor has, the path built for it parses back to
        /// them, with the action and the query kept.
        #[test]
        fn rewritten_paths_parse_back_to_the_same_model(
            name in "\\PC{1,24}",
            version in prop::option::of("\\PC{1,12}"),
            action in 0..3usize,
            query in prop::option::of("[a-z=&%0-9]{0,12}"),
        ) {
            let original = ["/v2/models/a", "/v2/models/a/ready", "/v2/models/a/infer"][action];
            let m = *Route::parse(original).unwrap().model().unwrap();
            let built = m.rewrite_path_and_query(&name, version.as_deref(), query.as_deref());
            let (path, q) = match built.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (built.as_str(), None),
            };
            prop_assert_eq!(q, query.as_deref());
            let back = *Route::parse(path).unwrap().model().unwrap();
            prop_assert_eq!(back.action, m.action);
            prop_assert_eq!(back.name(), name.as_str());
            let back_version = back.version();
            prop_assert_eq!(back_version.as_deref(), version.as_deref());
        }

        /// Arbitrary paths never panic.
        #[test]
        fn arbitrary_paths_never_panic(path in "(/v2(/models|/health)?)?[/a-z%0-9.]{0,24}") {
            if let Ok(Route::Model(m)) = Route::parse(&path) {
                let _ = (m.name(), m.version());
            }
        }
    }

    fn model(path: &str) -> ModelPath<'_> {
        match Route::parse(path) {
            Ok(Route::Model(m)) => m,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn server_routes_parse() {
        assert_eq!(Route::parse("/v2"), Ok(Route::ServerMetadata));
        assert_eq!(Route::parse("/v2/health/live"), Ok(Route::ServerLive));
        assert_eq!(Route::parse("/v2/health/ready"), Ok(Route::ServerReady));
        assert_eq!(
            Route::parse("/v2/health/ready").unwrap().method(),
            Method::GET
        );
    }

    #[test]
    fn model_routes_parse_with_and_without_version() {
        let cases = [
            ("/v2/models/iris", None, ModelAction::Metadata),
            ("/v2/models/iris/ready", None, ModelAction::Ready),
            ("/v2/models/iris/infer", None, ModelAction::Infer),
            (
                "/v2/models/iris/versions/3",
                Some("3"),
                ModelAction::Metadata,
            ),
            (
                "/v2/models/iris/versions/3/ready",
                Some("3"),
                ModelAction::Ready,
            ),
            (
                "/v2/models/iris/versions/v-1.2/infer",
                Some("v-1.2"),
                ModelAction::Infer,
            ),
        ];
        for (path, version, action) in cases {
            let m = model(path);
            assert_eq!(m.raw_name, "iris", "{path}");
            assert_eq!(m.raw_version, version, "{path}");
            assert_eq!(m.action, action, "{path}");
        }
        assert_eq!(
            Route::parse("/v2/models/iris/infer").unwrap().method(),
            Method::POST
        );
        assert_eq!(
            Route::parse("/v2/models/iris").unwrap().method(),
            Method::GET
        );
    }

    #[test]
    fn names_that_look_like_keywords_are_names() {
        // The segment count decides: one segment is always the name.
        assert_eq!(model("/v2/models/ready").raw_name, "ready");
        assert_eq!(model("/v2/models/versions").raw_name, "versions");
        assert_eq!(
            model("/v2/models/infer/versions/ready").raw_version,
            Some("ready")
        );
        assert_eq!(
            model("/v2/models/versions/versions/1/infer").raw_name,
            "versions"
        );
    }

    #[test]
    fn percent_escapes_decode_and_bad_ones_are_malformed() {
        let m = model("/v2/models/my%20model/versions/%C3%A9t%C3%A9/ready");
        assert_eq!(m.name(), "my model");
        assert_eq!(m.version().as_deref(), Some("été"));
        assert!(matches!(
            model("/v2/models/plain").name(),
            Cow::Borrowed("plain")
        ));
        for bad in [
            "/v2/models/a%2/ready",
            "/v2/models/a%zz",
            "/v2/models/%ff%fe/infer",
            "/v2/models//ready",
            "/v2/models/m/versions//infer",
        ] {
            assert_eq!(Route::parse(bad), Err(PathError::Malformed), "{bad}");
        }
    }

    #[test]
    fn other_paths_are_not_found_or_not_v2() {
        for other in [
            "/v2/",
            "/v2/models",
            "/v2/health",
            "/v2/health/live/",
            "/v2/models/iris/ready/",
            "/v2/models/",
            "/v2/models/iris/",
            "/v2/models/m/versions/1/",
            "/v2/models/iris/generate",
            "/v2/models/iris/versions",
            "/v2/models/iris/versions/1/stats",
            "/v2/models/iris/versions/1/infer/x",
            "/v2/repository/index",
            "/V2/health/live",
        ] {
            let expected = if other.starts_with("/v2") {
                PathError::NotFound
            } else {
                PathError::NotV2
            };
            assert_eq!(Route::parse(other), Err(expected), "{other}");
        }
        for not_v2 in ["/v1/models/iris:predict", "/v2x/health/live", "/", ""] {
            assert_eq!(Route::parse(not_v2), Err(PathError::NotV2), "{not_v2}");
        }
    }

    #[test]
    fn rewrite_encodes_the_new_name_and_keeps_the_query() {
        let m = model("/v2/models/alias/versions/2/infer");
        assert_eq!(
            m.rewrite_path_and_query("iris", None, None),
            "/v2/models/iris/infer"
        );
        assert_eq!(
            m.rewrite_path_and_query("iris", Some("1"), Some("a=b&c")),
            "/v2/models/iris/versions/1/infer?a=b&c"
        );
        let weird = m.rewrite_path_and_query("a b/c?d%é", Some("x/y"), None);
        assert_eq!(
            weird,
            "/v2/models/a%20b%2Fc%3Fd%25%C3%A9/versions/x%2Fy/infer"
        );
        // What is built parses back to the same name.
        let back = model(&weird);
        assert_eq!(back.name(), "a b/c?d%é");
        assert_eq!(back.version().as_deref(), Some("x/y"));
        assert_eq!(back.action, ModelAction::Infer);
        let meta = model("/v2/models/alias");
        assert_eq!(meta.rewrite_path_and_query("m", None, None), "/v2/models/m");
        let ready = model("/v2/models/alias/ready");
        assert_eq!(
            ready.rewrite_path_and_query("m", Some("4"), None),
            "/v2/models/m/versions/4/ready"
        );
    }
}
