//! TF Serving REST paths: parsing a request's path by slicing (no allocation) and building the
//! rewritten path for the chosen executor (one allocation).
//!
//! Grammar (TF Serving's REST API, `v1`):
//!
//! ```text
//! /v1/models/{name}[/versions/{n}|/labels/{label}]                    GET  status
//! /v1/models/{name}[/versions/{n}|/labels/{label}]/metadata           GET  metadata
//! /v1/models/{name}[/versions/{n}|/labels/{label}]:{predict|classify|regress}   POST
//! ```
//!
//! The `{name}` in the path is a *logical alias* the application uses (it was written for one
//! TF Serving); the proxy ignores it for selection and rewrites it to the chosen executor's
//! model name. Only the `x-mulambda-model` header pins a model. The version/label rule is in
//! [`resolve_selector`].

use std::fmt::Write as _;

use http::Method;

/// Prefix of every model path.
pub const MODELS_PREFIX: &str = "/v1/models";

/// What a model path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `GET …` model status.
    Status,
    /// `GET …/metadata` signature metadata.
    Metadata,
    /// `POST …:predict`.
    Predict,
    /// `POST …:classify`.
    Classify,
    /// `POST …:regress`.
    Regress,
}

/// A version or label in the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector<'a> {
    /// `/versions/{n}`.
    Version(u64),
    /// `/labels/{label}`.
    Label(&'a str),
}

/// A parsed model path, borrowing from the request's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelPath<'a> {
    /// The model name in the path (a logical alias; not used for selection).
    pub name: &'a str,
    /// Version or label, when given.
    pub selector: Option<Selector<'a>>,
    /// What is asked.
    pub action: Action,
}

/// Why a path is not a model path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Not under `/v1/models`: 404.
    NotFound,
    /// Under `/v1/models` but not in the grammar (or the wrong method): 400.
    Malformed,
}

// === impl Action ===

impl Action {
    /// Every action, in [`Action::index`] order.
    pub const ALL: [Action; 5] = [
        Action::Status,
        Action::Metadata,
        Action::Predict,
        Action::Classify,
        Action::Regress,
    ];

    /// Position in [`Action::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The method the action is served for.
    pub fn method(self) -> Method {
        match self {
            Action::Status | Action::Metadata => Method::GET,
            Action::Predict | Action::Classify | Action::Regress => Method::POST,
        }
    }

    /// The path suffix after the model name and selector.
    fn suffix(self) -> &'static str {
        match self {
            Action::Status => "",
            Action::Metadata => "/metadata",
            Action::Predict => ":predict",
            Action::Classify => ":classify",
            Action::Regress => ":regress",
        }
    }
}

// === impl ModelPath ===

impl<'a> ModelPath<'a> {
    /// Parses a request path (without the query) and checks the method.
    pub fn parse(method: &Method, path: &'a str) -> Result<ModelPath<'a>, PathError> {
        let Some(rest) = path.strip_prefix(MODELS_PREFIX) else {
            return Err(PathError::NotFound);
        };
        let Some(rest) = rest.strip_prefix('/') else {
            // "/v1/models" itself or "/v1/modelsX".
            return if rest.is_empty() {
                Err(PathError::Malformed)
            } else {
                Err(PathError::NotFound)
            };
        };
        let (rest, action) = if let Some(r) = rest.strip_suffix("/metadata") {
            (r, Action::Metadata)
        } else if let Some((r, verb)) = rest.split_once(':') {
            let action = match verb {
                "predict" => Action::Predict,
                "classify" => Action::Classify,
                "regress" => Action::Regress,
                _ => return Err(PathError::Malformed),
            };
            (r, action)
        } else {
            (rest, Action::Status)
        };
        let mut parts = rest.split('/');
        let name = parts.next().unwrap_or_default();
        if !segment_ok(name) {
            return Err(PathError::Malformed);
        }
        let selector = match (parts.next(), parts.next(), parts.next()) {
            (None, _, _) => None,
            (Some("versions"), Some(v), None) => Some(Selector::Version(parse_version(v)?)),
            (Some("labels"), Some(l), None) if segment_ok(l) => Some(Selector::Label(l)),
            _ => return Err(PathError::Malformed),
        };
        if *method != action.method() {
            return Err(PathError::Malformed);
        }
        Ok(ModelPath {
            name,
            selector,
            action,
        })
    }

    /// Builds `http://{authority}/v1/models/{model}[selector]{suffix}[?query]` in one allocation.
    pub fn rewrite(
        &self,
        authority: &impl std::fmt::Display,
        model: &str,
        selector: Option<Selector<'_>>,
        query: Option<&str>,
    ) -> String {
        let mut out = String::with_capacity(7 + 48 + self.path_capacity(model, query));
        // Writing to a String cannot fail.
        let _ = write!(out, "http://{authority}");
        self.write_path_and_query(&mut out, model, selector, query);
        out
    }

    /// Builds `/v1/models/{model}[selector]{suffix}[?query]` (the origin form sent to the
    /// executor) in one allocation, without the formatting machinery on the common path.
    pub fn rewrite_path_and_query(
        &self,
        model: &str,
        selector: Option<Selector<'_>>,
        query: Option<&str>,
    ) -> String {
        let mut out = String::with_capacity(self.path_capacity(model, query));
        self.write_path_and_query(&mut out, model, selector, query);
        out
    }

    fn path_capacity(&self, model: &str, query: Option<&str>) -> usize {
        MODELS_PREFIX.len() + 1 + model.len() + 32 + query.map_or(0, |q| q.len() + 1)
    }

    fn write_path_and_query(
        &self,
        out: &mut String,
        model: &str,
        selector: Option<Selector<'_>>,
        query: Option<&str>,
    ) {
        out.push_str(MODELS_PREFIX);
        out.push('/');
        out.push_str(model);
        match selector {
            Some(Selector::Version(v)) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "/versions/{v}");
            }
            Some(Selector::Label(l)) => {
                out.push_str("/labels/");
                out.push_str(l);
            }
            None => {}
        }
        out.push_str(self.action.suffix());
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
    }
}

/// The version/label sent to the executor:
/// - the request pinned a model (`x-mulambda-model`): the path's version or label is kept (the
///   caller knows which model it talks to); without one, the executor's pinned version;
/// - otherwise the path's version or label is dropped (versions of different models are
///   unrelated) and the executor's pinned version is used, if it has one (else the latest).
pub fn resolve_selector<'a>(
    requested: Option<Selector<'a>>,
    pinned_request: bool,
    executor_version: Option<u64>,
) -> Option<Selector<'a>> {
    let executor = executor_version.map(Selector::Version);
    if pinned_request {
        requested.or(executor)
    } else {
        executor
    }
}

fn segment_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'%' | b'~'))
}

fn parse_version(v: &str) -> Result<u64, PathError> {
    if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PathError::Malformed);
    }
    v.parse().map_err(|_| PathError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(m: Method, p: &str) -> Result<ModelPath<'_>, PathError> {
        ModelPath::parse(&m, p)
    }

    #[test]
    fn parses_every_route() {
        let p = parse(Method::POST, "/v1/models/m:predict").unwrap();
        assert_eq!((p.name, p.selector, p.action), ("m", None, Action::Predict));
        let p = parse(Method::POST, "/v1/models/m/versions/3:classify").unwrap();
        assert_eq!(p.selector, Some(Selector::Version(3)));
        assert_eq!(p.action, Action::Classify);
        let p = parse(Method::POST, "/v1/models/m/labels/stable:regress").unwrap();
        assert_eq!(p.selector, Some(Selector::Label("stable")));
        let p = parse(Method::GET, "/v1/models/m").unwrap();
        assert_eq!(p.action, Action::Status);
        let p = parse(Method::GET, "/v1/models/m/versions/1/metadata").unwrap();
        assert_eq!(
            (p.selector, p.action),
            (Some(Selector::Version(1)), Action::Metadata)
        );
        let p = parse(Method::GET, "/v1/models/m/labels/canary").unwrap();
        assert_eq!(p.selector, Some(Selector::Label("canary")));
    }

    #[test]
    fn tells_unknown_from_malformed() {
        assert_eq!(parse(Method::GET, "/").unwrap_err(), PathError::NotFound);
        assert_eq!(
            parse(Method::GET, "/v2/x").unwrap_err(),
            PathError::NotFound
        );
        assert_eq!(
            parse(Method::GET, "/v1/modelsx").unwrap_err(),
            PathError::NotFound
        );
        for bad in [
            "/v1/models",
            "/v1/models/",
            "/v1/models/m:explode",
            "/v1/models/m/versions/x:predict",
            "/v1/models/m/versions/:predict",
            "/v1/models/m/versions/99999999999999999999999:predict",
            "/v1/models/m/labels/:predict",
            "/v1/models/m/other/1:predict",
            "/v1/models/m/versions/1/extra:predict",
            "/v1/models/:predict",
            "/v1/models/m/versions/1/labels/x",
            "/v1/models/m:predict:predict",
        ] {
            assert_eq!(
                parse(Method::POST, bad).unwrap_err(),
                PathError::Malformed,
                "{bad}"
            );
        }
        assert_eq!(
            parse(Method::GET, "/v1/models/m:predict").unwrap_err(),
            PathError::Malformed
        );
        assert_eq!(
            parse(Method::POST, "/v1/models/m").unwrap_err(),
            PathError::Malformed
        );
    }

    #[test]
    fn rewrites_in_one_string() {
        let p = parse(Method::POST, "/v1/models/alias/versions/7:predict").unwrap();
        assert_eq!(
            p.rewrite(&"10.0.0.1:8501", "resnet", None, None),
            "http://10.0.0.1:8501/v1/models/resnet:predict"
        );
        assert_eq!(
            p.rewrite(&"h:1", "resnet", Some(Selector::Version(2)), Some("a=b")),
            "http://h:1/v1/models/resnet/versions/2:predict?a=b"
        );
        let p = parse(Method::GET, "/v1/models/alias/metadata").unwrap();
        assert_eq!(
            p.rewrite(&"h:1", "m", Some(Selector::Label("x")), None),
            "http://h:1/v1/models/m/labels/x/metadata"
        );
        assert_eq!(
            p.rewrite_path_and_query("m", Some(Selector::Version(3)), Some("q=1")),
            "/v1/models/m/versions/3/metadata?q=1"
        );
        assert_eq!(
            p.rewrite_path_and_query("m", Some(Selector::Label("x")), None),
            "/v1/models/m/labels/x/metadata"
        );
    }

    #[test]
    fn action_indices_follow_all() {
        for (i, a) in Action::ALL.iter().enumerate() {
            assert_eq!(a.index(), i);
        }
    }

    #[test]
    fn selector_rule() {
        let v7 = Some(Selector::Version(7));
        assert_eq!(resolve_selector(v7, false, None), None);
        assert_eq!(
            resolve_selector(v7, false, Some(2)),
            Some(Selector::Version(2))
        );
        assert_eq!(resolve_selector(v7, true, Some(2)), v7);
        assert_eq!(
            resolve_selector(None, true, Some(2)),
            Some(Selector::Version(2))
        );
        assert_eq!(resolve_selector(None, true, None), None);
    }
}
